//! Route registration: registering a handler here registers its OpenAPI path too.

pub mod agreements;
pub mod audit;
pub mod claims;
pub mod contracts;
pub mod events;
pub mod health;
pub mod matrices;
pub mod people;
pub mod providers;
pub mod registers;
pub mod reports;
pub mod submissions;
pub mod webhooks;
pub mod workbooks;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use dayops_domain::{FieldError, FieldErrors};
use dayops_persistence::page::MAX_LIMIT;
use dayops_persistence::{DbConnection, Page};

use crate::csv_export::{all_pages, json_items_csv, wants_csv};
use crate::problem::ApiError;
use crate::{run, AppState};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(health::openid_configuration)
        .service(providers::create)
        .service(providers::list)
        .service(providers::get)
        .service(providers::update)
        .service(contracts::create)
        .service(contracts::list)
        .service(contracts::get)
        .service(contracts::update)
        .service(matrices::create)
        .service(matrices::list)
        .service(matrices::rate)
        .service(agreements::upsert)
        .service(agreements::list)
        .service(agreements::get)
        .service(registers::validate)
        .service(registers::create)
        .service(registers::list)
        .service(registers::get)
        .service(registers::get_version)
        .service(registers::amend)
        .service(claims::validate)
        .service(claims::draft)
        .service(claims::create)
        .service(claims::list)
        .service(claims::get)
        .service(claims::get_version)
        .service(claims::amend)
        .service(claims::decide)
        .service(claims::pay)
        .service(workbooks::validate)
        .service(workbooks::template)
        .service(workbooks::create)
        .service(workbooks::list)
        .service(workbooks::get)
        .service(workbooks::get_version)
        .service(workbooks::amend)
        .service(submissions::list)
        .service(submissions::finding_codes)
        .service(reports::spend)
        .service(reports::budget)
        .service(reports::unit_costs)
        .service(people::timeline)
        .service(reports::kpis)
        .service(reports::kpi_catalogue)
        .service(reports::compliance)
        .service(reports::reviews)
        .service(audit::list)
        .service(audit::verify)
        .service(audit::inclusion_proof)
        .service(audit::get_checkpoint)
        .service(audit::sign_checkpoint)
        .service(audit::consistency_proof)
        .service(events::list)
        .service(webhooks::create)
        .service(webhooks::list)
        .service(webhooks::get)
        .service(webhooks::remove)
        .service(webhooks::rotate_secret)
        .service(webhooks::enable)
        .service(webhooks::deliveries)
        .service(webhooks::redeliver);
}

/// Cursor paging parameters.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

impl PageQuery {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, MAX_LIMIT)
    }
}

/// The response header that names the audit events recording a write (comma-separated,
/// in order). Once sequenced, `GET /v1/audit-events/{id}/proof` proves each.
pub const AUDIT_EVENT_ID: &str = "Audit-Event-Id";

/// A write's answer: `audited`'s value as JSON, naming its audit events.
pub fn audited<T: Serialize>(
    mut response: actix_web::HttpResponseBuilder,
    audited: dayops_persistence::audit::Audited<T>,
) -> HttpResponse {
    if !audited.events.is_empty() {
        response.insert_header((AUDIT_EVENT_ID, audited.events.join(", ")));
    }
    response.json(audited.value)
}

/// A JSON answer with its representation's `ETag` (providers, contracts, agreements).
pub fn tagged<T: Serialize>(
    mut response: actix_web::HttpResponseBuilder,
    value: &T,
) -> HttpResponse {
    response.insert_header(etag_of(value));
    response.json(value)
}

/// An audited change's answer with the changed representation's `ETag`.
pub fn audited_tagged<T: Serialize>(
    mut response: actix_web::HttpResponseBuilder,
    changed: dayops_persistence::audit::Audited<T>,
) -> HttpResponse {
    response.insert_header(etag_of(&changed.value));
    audited(response, changed)
}

fn etag_of<T: Serialize>(value: &T) -> (actix_web::http::header::HeaderName, String) {
    (
        actix_web::http::header::ETAG,
        dayops_domain::canonical::representation_etag(value),
    )
}

/// A change's precondition, checked in its write transaction: `If-Match` must name the
/// current representation's `ETag` exactly (412 otherwise), so that of two clients
/// editing the same version the second learns of the first instead of undoing it.
pub fn precondition(
    if_match: &str,
    current: &impl Serialize,
) -> Result<(), dayops_persistence::StoreError> {
    let current_etag = dayops_domain::canonical::representation_etag(current);
    if if_match.trim() == current_etag {
        Ok(())
    } else {
        Err(dayops_persistence::StoreError::PreconditionFailed { current_etag })
    }
}

/// A reference-data list's answer: the page asked for, or with `Accept: text/csv` every
/// item from the cursor on. `fetch` reads one page on the blocking pool.
pub async fn page_or_csv<T>(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    paging: PageQuery,
    fetch: impl Fn(&mut DbConnection, Option<&str>, i64) -> Result<Page<T>, ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
{
    if wants_csv(req) {
        let items = run(state, move |conn| all_pages(conn, paging.cursor, fetch)).await?;
        return json_items_csv(&items);
    }
    let page = run(state, move |conn| {
        fetch(conn, paging.cursor.as_deref(), paging.limit())
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A period's optional bounds as dates both back ends store and compare: from the first
/// day of year 1 to the last of 9999 where not given.
pub fn date_bounds(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> (chrono::NaiveDate, chrono::NaiveDate) {
    (
        from.or(chrono::NaiveDate::from_ymd_opt(1, 1, 1))
            .unwrap_or_default(),
        to.or(chrono::NaiveDate::from_ymd_opt(9999, 12, 31))
            .unwrap_or_default(),
    )
}

/// The provider filter a list runs with. A provider is confined to itself: asking for
/// another provider's rows gives `None` (answer an empty page, revealing nothing);
/// commissioners and auditors get the filter they asked for.
pub fn provider_filter(
    principal: &crate::auth::Principal,
    asked: Option<String>,
) -> Option<Option<String>> {
    match principal.own_provider() {
        Some(own) if asked.as_deref().is_some_and(|asked| asked != own) => None,
        Some(own) => Some(Some(own.to_string())),
        None => Some(asked),
    }
}

/// An empty page, for a filter that can match nothing the caller may see.
pub fn empty_page<T: serde::Serialize>() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(dayops_persistence::Page::<T> {
        items: Vec::new(),
        next_cursor: None,
    })
}

/// Turns `validator` errors into field errors under `/query`.
pub fn validate_query(query: &impl Validate) -> Result<(), ApiError> {
    query.validate().map_err(|errors| {
        let mut fields: Vec<FieldError> = errors
            .field_errors()
            .into_iter()
            .flat_map(|(field, list)| {
                list.iter().map(move |e| {
                    let detail = match (e.params.get("min"), e.params.get("max")) {
                        (Some(min), Some(max)) => format!("must be from {min} to {max}"),
                        _ => e.code.to_string(),
                    };
                    FieldError::new(format!("/query/{field}"), detail)
                })
            })
            .collect();
        fields.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        ApiError::invalid(fields)
    })
}

/// 422 unless the domain found nothing wrong.
pub fn ensure_valid(errors: FieldErrors) -> Result<(), ApiError> {
    errors.into_result().map_err(ApiError::invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limit_is_checked() {
        let q = PageQuery {
            cursor: None,
            limit: Some(501),
        };
        let problem = validate_query(&q).unwrap_err().problem();
        assert_eq!(problem.errors[0].pointer, "/query/limit");
        assert_eq!(
            PageQuery {
                cursor: None,
                limit: None
            }
            .limit(),
            100
        );
    }
}
