//! Service agreements: bulk upsert by commissioners, reads by the contract's provider.

use actix_web::{get, put, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use dayops_domain::agreement::{Agreement, AgreementInput};
use dayops_persistence::agreements::{self, UpsertSummary};
use dayops_persistence::{contracts, Page};

use super::contracts::visible_contract;
use super::{page_or_csv, validate_query, PageQuery};
use crate::auth::{Commissioner, Principal};
use crate::extract::{JsonBody, Query};
use crate::problem::{may, ApiError, Problems};
use crate::{run, AppState};

/// The nightly export from case management: agreements keyed by `person_ref`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementBatch {
    pub agreements: Vec<AgreementInput>,
}

/// Create or update agreements in bulk, keyed by (contract, person_ref). One transaction:
/// one invalid agreement stores nothing, and the problem names it.
#[utoipa::path(
    operation_id = "upsert_agreements",
    tag = "contracts",
    request_body = AgreementBatch,
    responses((status = 200, body = UpsertSummary), Problems<{ may::ROLE | may::FIND | may::BODY }>)
)]
#[put("/v1/contracts/{id}/agreements")]
pub async fn upsert(
    Commissioner(principal): Commissioner,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(batch): JsonBody<AgreementBatch>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = principal.actor();
    let summary = run(&state, move |conn| {
        Ok(agreements::upsert_batch(
            conn,
            &actor,
            &id,
            batch.agreements,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// List a contract's agreements.
#[utoipa::path(operation_id = "list_agreements", tag = "contracts", params(AgreementListQuery), responses((status = 200, description = "A page, or with `Accept: text/csv` every agreement (nested terms as JSON in their cell)", content((Page<Agreement> = "application/json"), (String = "text/csv"))), Problems<{ may::FIND | may::QUERY }>))]
#[get("/v1/contracts/{id}/agreements")]
pub async fn list(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Query(query): Query<AgreementListQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let id = id.into_inner();
    let since = query.updated_since;
    let paging = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    };
    page_or_csv(&req, &state, paging, move |conn, cursor, limit| {
        visible_contract(conn, &principal, &id)?;
        Ok(agreements::list(conn, &id, since, cursor, limit)?)
    })
    .await
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams, validator::Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgreementListQuery {
    /// Only agreements placed or changed at or after this time.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// Read an agreement.
#[utoipa::path(operation_id = "get_agreement", tag = "contracts", responses((status = 200, body = Agreement, headers(("ETag" = String))), Problems<{ may::FIND }>))]
#[get("/v1/agreements/{id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let agreement = run(&state, move |conn| {
        let agreement = agreements::get(conn, &id)?.ok_or_else(ApiError::not_found)?;
        let contract =
            contracts::get(conn, &agreement.contract_id)?.ok_or_else(ApiError::not_found)?;
        if principal.can_see(&contract.terms.provider_id) {
            Ok(agreement)
        } else {
            Err(ApiError::not_found())
        }
    })
    .await?;
    Ok(super::tagged(HttpResponse::Ok(), &agreement))
}
