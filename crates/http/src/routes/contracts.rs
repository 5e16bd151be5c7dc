//! `/v1/contracts`: commissioners manage contracts; a provider sees only its own.

use actix_web::http::header::LOCATION;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use validator::Validate;

use dayops_domain::contract::{Contract, ContractInput};
use dayops_domain::types::ContractStatus;
use dayops_persistence::contracts::{self, ContractFilter};
use dayops_persistence::{DbConnection, Page, StoreError};

use super::{
    audited_tagged, empty_page, ensure_valid, page_or_csv, precondition, provider_filter, tagged,
    validate_query, PageQuery,
};
use crate::auth::{Commissioner, Principal};
use crate::csv_export::{json_items_csv, wants_csv};
use crate::extract::{JsonBody, Query};
use crate::patch::patched;
use crate::patch::ContractPatch;
use crate::problem::{may, ApiError, Problems};
use crate::routes::submissions::if_match;
use crate::{run, AppState};

/// Loads a contract the principal may see; anything else is the same 404.
pub fn visible_contract(
    conn: &mut DbConnection,
    principal: &Principal,
    id: &str,
) -> Result<Contract, ApiError> {
    match contracts::get(conn, id)? {
        Some(contract) if principal.can_see(&contract.terms.provider_id) => Ok(contract),
        _ => Err(ApiError::not_found()),
    }
}

/// Create a contract for a provider.
#[utoipa::path(
    operation_id = "create_contract",
    tag = "contracts",
    request_body = ContractInput,
    responses((status = 201, body = Contract, description = "Created", headers(("Location" = String), ("ETag" = String), ("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::BODY | may::CONFLICT }>)
)]
#[post("/v1/contracts")]
pub async fn create(
    Commissioner(principal): Commissioner,
    state: web::Data<AppState>,
    JsonBody(input): JsonBody<ContractInput>,
) -> Result<HttpResponse, ApiError> {
    ensure_valid(input.validate())?;
    let actor = principal.actor();
    let contract = run(&state, move |conn| {
        Ok(contracts::create(conn, &actor, input)?)
    })
    .await?;
    let mut created = HttpResponse::Created();
    created.insert_header((LOCATION, format!("/v1/contracts/{}", contract.value.id)));
    Ok(audited_tagged(created, contract))
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContractListQuery {
    /// Only this provider's contracts.
    pub provider_id: Option<String>,
    pub status: Option<ContractStatus>,
    /// Only contracts created or changed at or after this time.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// List contracts (a provider sees only its own).
#[utoipa::path(operation_id = "list_contracts", tag = "contracts", params(ContractListQuery), responses((status = 200, description = "A page, or with `Accept: text/csv` every match (nested terms as JSON in their cell)", content((Page<Contract> = "application/json"), (String = "text/csv"))), Problems<{ may::QUERY }>))]
#[get("/v1/contracts")]
pub async fn list(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<ContractListQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let csv = wants_csv(&req);
    let Some(provider_id) = provider_filter(&principal, query.provider_id.clone()) else {
        return if csv {
            json_items_csv::<Contract>(&[])
        } else {
            Ok(empty_page::<Contract>())
        };
    };
    let filter = ContractFilter {
        provider_id,
        status: query.status,
        updated_since: query.updated_since,
    };
    let paging = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    };
    page_or_csv(&req, &state, paging, move |conn, cursor, limit| {
        Ok(contracts::list(conn, &filter, cursor, limit)?)
    })
    .await
}

/// Read a contract.
#[utoipa::path(operation_id = "get_contract", tag = "contracts", responses((status = 200, body = Contract, headers(("ETag" = String))), Problems<{ may::FIND }>))]
#[get("/v1/contracts/{id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let contract = run(&state, move |conn| visible_contract(conn, &principal, &id)).await?;
    Ok(tagged(HttpResponse::Ok(), &contract))
}

/// Change a contract's terms (JSON merge patch), naming the version changed in
/// `If-Match`.
#[utoipa::path(
    operation_id = "update_contract",
    tag = "contracts",
    params(("If-Match" = String, Header, description = "The contract's ETag, as read")),
    request_body(content = ContractPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Contract, headers(("ETag" = String), ("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IF_MATCH }>)
)]
#[patch("/v1/contracts/{id}")]
pub async fn update(
    Commissioner(principal): Commissioner,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(changes): JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let if_match = if_match(&req)?;
    if let Some(fixed) = crate::patch::CONTRACT_FIXED
        .iter()
        .find(|name| changes.get(**name).is_some())
    {
        return Err(ApiError::invalid(vec![dayops_domain::FieldError::new(
            format!("/{fixed}"),
            "cannot be changed; a new provider needs a new contract",
        )]));
    }
    let id = id.into_inner();
    let actor = principal.actor();
    let contract = run(&state, move |conn| {
        Ok(contracts::update(conn, &actor, &id, |current| {
            precondition(&if_match, current)?;
            let terms: ContractInput = patched(&current.terms, &changes)?;
            terms
                .validate()
                .into_result()
                .map_err(StoreError::Invalid)?;
            Ok(terms)
        })?)
    })
    .await?;
    Ok(audited_tagged(HttpResponse::Ok(), contract))
}
