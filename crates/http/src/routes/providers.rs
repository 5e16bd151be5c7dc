//! `/v1/providers`: commissioners manage providers; a provider sees only itself.

use actix_web::http::header::LOCATION;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde_json::Value;

use dayops_domain::provider::{Provider, ProviderInput};
use dayops_persistence::{providers, Page};

use super::{
    audited_tagged, ensure_valid, page_or_csv, precondition, tagged, validate_query, PageQuery,
};
use crate::auth::{Commissioner, Principal};
use crate::extract::{JsonBody, Query};
use crate::patch::patched;
use crate::patch::ProviderPatch;
use crate::problem::{may, ApiError, Problems};
use crate::routes::submissions::if_match;
use crate::{run, AppState};

/// Register a provider.
#[utoipa::path(
    operation_id = "create_provider",
    tag = "providers",
    request_body = ProviderInput,
    responses((status = 201, body = Provider, description = "Created", headers(("Location" = String), ("ETag" = String), ("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::BODY }>)
)]
#[post("/v1/providers")]
pub async fn create(
    Commissioner(principal): Commissioner,
    state: web::Data<AppState>,
    JsonBody(input): JsonBody<ProviderInput>,
) -> Result<HttpResponse, ApiError> {
    ensure_valid(input.validate())?;
    let actor = principal.actor();
    let provider = run(&state, move |conn| {
        Ok(providers::create(conn, &actor, input)?)
    })
    .await?;
    let mut created = HttpResponse::Created();
    created.insert_header((LOCATION, format!("/v1/providers/{}", provider.value.id)));
    Ok(audited_tagged(created, provider))
}

/// List providers (a provider sees only itself).
#[utoipa::path(operation_id = "list_providers", tag = "providers", params(PageQuery), responses((status = 200, description = "A page, or with `Accept: text/csv` every provider", content((Page<Provider> = "application/json"), (String = "text/csv"))), Problems<{ may::QUERY }>))]
#[get("/v1/providers")]
pub async fn list(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let only = principal.own_provider().map(str::to_string);
    page_or_csv(&req, &state, query, move |conn, cursor, limit| {
        Ok(providers::list(conn, only.as_deref(), cursor, limit)?)
    })
    .await
}

/// Read a provider.
#[utoipa::path(operation_id = "get_provider", tag = "providers", responses((status = 200, body = Provider, headers(("ETag" = String))), Problems<{ may::FIND }>))]
#[get("/v1/providers/{id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !principal.can_see(&id) {
        return Err(ApiError::not_found());
    }
    let provider = run(&state, move |conn| Ok(providers::get(conn, &id)?)).await?;
    provider
        .map(|p| tagged(HttpResponse::Ok(), &p))
        .ok_or_else(ApiError::not_found)
}

/// Change a provider (JSON merge patch), naming the version changed in `If-Match`.
#[utoipa::path(
    operation_id = "update_provider",
    tag = "providers",
    params(("If-Match" = String, Header, description = "The provider's ETag, as read")),
    request_body(content = ProviderPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, body = Provider, headers(("ETag" = String), ("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::FIND | may::BODY | may::IF_MATCH }>)
)]
#[patch("/v1/providers/{id}")]
pub async fn update(
    Commissioner(principal): Commissioner,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(changes): JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let if_match = if_match(&req)?;
    let id = id.into_inner();
    let actor = principal.actor();
    let provider = run(&state, move |conn| {
        Ok(providers::update(conn, &actor, &id, |current| {
            precondition(&if_match, current)?;
            let details = patched(&current.details, &changes)?;
            details
                .validate()
                .into_result()
                .map_err(dayops_persistence::StoreError::Invalid)?;
            Ok(details)
        })?)
    })
    .await?;
    Ok(audited_tagged(HttpResponse::Ok(), provider))
}
