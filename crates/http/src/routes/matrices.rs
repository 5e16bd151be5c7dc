//! `/v1/contracts/{id}/rate-matrices` and `/v1/contracts/{id}/rates`.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use dayops_domain::matrix::{lookup, RateCell, RateMatrixInput, RateMatrixVersion, RateQuery};
use dayops_domain::types::{DayCategory, Item, SessionType};
use dayops_domain::FieldError;
use dayops_persistence::{matrices, Page};

use super::contracts::visible_contract;
use super::{audited, validate_query};
use crate::auth::{Commissioner, Principal};
use crate::csv_export::{json_items_csv, wants_csv};
use crate::extract::{JsonBody, Query};
use crate::problem::{may, ApiError, ProblemKind, Problems};
use crate::{run, AppState};

/// Add a rate matrix version (for example the annual uplift). Versions may not overlap
/// (409), and a version with a cell that could never be chosen on any of its dates is
/// refused (422 pointing at the cell).
#[utoipa::path(
    operation_id = "create_rate_matrix_version",
    tag = "contracts",
    request_body = RateMatrixInput,
    responses((status = 201, body = RateMatrixVersion, description = "Created", headers(("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT }>)
)]
#[post("/v1/contracts/{id}/rate-matrices")]
pub async fn create(
    Commissioner(principal): Commissioner,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(input): JsonBody<RateMatrixInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = principal.actor();
    let version = run(&state, move |conn| {
        Ok(matrices::create(conn, &actor, &id, input)?)
    })
    .await?;
    Ok(audited(HttpResponse::Created(), version))
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionListQuery {
    /// The `next_cursor` of the previous page (an `effective_from` date).
    pub cursor: Option<NaiveDate>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// List a contract's rate matrix versions, oldest first.
#[utoipa::path(operation_id = "list_rate_matrix_versions", tag = "contracts", params(VersionListQuery), responses((status = 200, description = "A page, or with `Accept: text/csv` every version from the cursor on (cells as JSON in their cell)", content((Page<RateMatrixVersion> = "application/json"), (String = "text/csv"))), Problems<{ may::FIND | may::QUERY }>))]
#[get("/v1/contracts/{id}/rate-matrices")]
pub async fn list(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Query(query): Query<VersionListQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let id = id.into_inner();
    let versions = run(&state, move |conn| {
        visible_contract(conn, &principal, &id)?;
        Ok(matrices::list(conn, &id)?)
    })
    .await?;
    if wants_csv(&req) {
        let rows: Vec<_> = versions
            .into_iter()
            .filter(|v| query.cursor.is_none_or(|after| v.effective_from > after))
            .collect();
        return json_items_csv(&rows);
    }
    // Versions never overlap, so effective_from orders them and serves as the cursor.
    let rows = versions
        .into_iter()
        .filter(|v| query.cursor.is_none_or(|after| v.effective_from > after))
        .take(usize::try_from(query.limit.unwrap_or(100) + 1).unwrap_or(usize::MAX))
        .collect();
    let page = Page::from_rows(rows, query.limit.unwrap_or(100), |v: &RateMatrixVersion| {
        v.effective_from.to_string()
    });
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RateParams {
    /// The day of service.
    pub date: NaiveDate,
    pub item: Item,
    /// The person's assessed need band.
    pub need_band: String,
    /// Required when `item` is `session`.
    pub session_type: Option<SessionType>,
}

/// The cell that prices a unit of service, and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateAnswer {
    pub contract_id: String,
    pub version_id: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    /// The date's category under the contract: a bank holiday of its region's calendar
    /// or one of its own days, else weekend or weekday.
    pub day_category: DayCategory,
    /// The cell that applies: the exact day category before `any`, and within the chosen
    /// day category the exact band before `*`.
    pub cell: RateCell,
}

/// Look up the rate for a band, item, session type and date, or 404 when no cell prices it.
#[utoipa::path(operation_id = "get_rate", tag = "contracts", params(RateParams), responses((status = 200, body = RateAnswer), Problems<{ may::FIND | may::QUERY }>))]
#[get("/v1/contracts/{id}/rates")]
pub async fn rate(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Query(params): Query<RateParams>,
) -> Result<HttpResponse, ApiError> {
    if params.item == Item::Session && params.session_type.is_none() {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/query/session_type",
            "is required when item is session",
        )]));
    }
    let id = id.into_inner();
    let (contract, versions) = run(&state, move |conn| {
        let contract = visible_contract(conn, &principal, &id)?;
        Ok((contract, matrices::list(conn, &id)?))
    })
    .await?;
    let versions: Vec<_> = versions.iter().map(RateMatrixVersion::for_lookup).collect();
    let day_category = contract.terms.day_category(params.date);
    let query = RateQuery {
        date: params.date,
        item: params.item,
        need_band: &params.need_band,
        session_type: params.session_type,
        day_category,
    };
    let (version, cell) = lookup(&versions, &query).ok_or_else(|| {
        ApiError::new(
            ProblemKind::NotFound,
            "no rate cell prices this band, item, session type and day category on that date",
        )
    })?;
    Ok(HttpResponse::Ok().json(RateAnswer {
        contract_id: contract.id,
        version_id: version.id.clone(),
        effective_from: version.effective_from,
        effective_to: version.effective_to,
        day_category,
        cell: cell.clone(),
    }))
}
