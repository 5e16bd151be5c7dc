//! What every submission kind's routes share: reading JSON or CSV bodies, the
//! Idempotency-Key and If-Match headers, and the receipt a write answers with.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{get, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use dayops_domain::submission::{Envelope, SubmissionKind};
use dayops_domain::FieldError;
use dayops_persistence::idempotency::{KeyedRequest, Reservation};
use dayops_persistence::submissions::{StoredVersion, SubmissionSummary};
use dayops_persistence::Page;

use crate::auth::Principal;
use crate::csv_export::{cell, csv_response, stream_csv, wants_csv, CsvRow};
use crate::extract::Query;
use crate::problem::{may, ApiError, ProblemKind, Problems};

/// What a write answers with: the envelope of the stored version and its slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionReceipt {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub contract_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// On the answer to a write: the audit event that records this version. Once
    /// sequenced (within a second), `GET /v1/audit-events/{audit_event_id}/proof` proves
    /// it is in the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_event_id: Option<String>,
}

impl SubmissionReceipt {
    pub fn of(stored: &StoredVersion) -> Self {
        SubmissionReceipt {
            envelope: stored.envelope.clone(),
            contract_id: stored.header.contract_id.clone(),
            period_start: stored.header.period_start,
            period_end: stored.header.period_end,
            audit_event_id: None,
        }
    }
}

/// Today, for deadlines and periods (UTC).
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The `Idempotency-Key` a create needs: 1 to 255 visible ASCII characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let missing = || {
        ApiError::with_errors(
            ProblemKind::BadRequest,
            "creating a submission needs an Idempotency-Key header",
            vec![FieldError::new(
                "/headers/idempotency-key",
                "is required: 1 to 255 visible ASCII characters",
            )],
        )
    };
    let value = req.headers().get("idempotency-key").ok_or_else(missing)?;
    let key = value.to_str().map_err(|_| missing())?.trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(missing());
    }
    Ok(key.to_string())
}

/// The request a key stands for: principal, method, path, query, media type and body.
pub fn keyed_request(
    req: &HttpRequest,
    principal: &Principal,
    key: String,
    body: &[u8],
) -> KeyedRequest {
    let mut hash = Sha256::new();
    for part in [req.method().as_str(), req.path(), req.query_string()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.update(
        crate::extract::media_type(req)
            .unwrap_or_default()
            .as_bytes(),
    );
    hash.update([0]);
    hash.update(body);
    KeyedRequest {
        scope: principal
            .provider_id
            .clone()
            .unwrap_or_else(|| principal.sub.clone()),
        key,
        principal_sub: principal.sub.clone(),
        request_sha256: hex::encode(hash.finalize()),
    }
}

/// The `If-Match` a change needs (an amendment, a provider's or contract's patch).
pub fn if_match(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::new(
                ProblemKind::PreconditionRequired,
                "a change needs If-Match with the ETag of the current version (as GET answers it)",
            )
        })
}

/// The path of a submission of `kind`.
pub fn location(kind: SubmissionKind, id: &str) -> String {
    format!("/v1/{}s/{id}", kind.as_str())
}

/// A JSON response with the version's ETag (and Location, for a create).
pub fn with_version_headers(
    mut response: HttpResponse,
    kind: SubmissionKind,
    id: &str,
    version: i32,
    created: bool,
) -> HttpResponse {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&dayops_domain::submission::etag(version)) {
        headers.insert(header::ETAG, etag);
    }
    if created {
        if let Ok(location) = HeaderValue::from_str(&location(kind, id)) {
            headers.insert(header::LOCATION, location);
        }
    }
    response
}

/// The answer to a create, first time or replayed.
pub enum Created {
    New {
        id: String,
        version: i32,
        body: String,
    },
    Replay {
        status: u16,
        body: String,
    },
}

/// Turns the key's reservation into an error for the cases that do not proceed.
pub fn refuse(reservation: Reservation) -> Result<Option<Created>, ApiError> {
    match reservation {
        Reservation::Proceed => Ok(None),
        Reservation::Replay { status, body } => Ok(Some(Created::Replay { status, body })),
        Reservation::InFlight => Err(ApiError::new(
            ProblemKind::InFlight,
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )),
        Reservation::Mismatch => Err(ApiError::with_errors(
            ProblemKind::Validation,
            "this Idempotency-Key was used for a different request",
            vec![FieldError::new(
                "/headers/idempotency-key",
                "was used for a different request body or principal",
            )],
        )),
    }
}

/// The HTTP response to a create.
pub fn created_response(kind: SubmissionKind, created: Created) -> Result<HttpResponse, ApiError> {
    match created {
        Created::New { id, version, body } => Ok(with_version_headers(
            HttpResponse::Created()
                .content_type("application/json")
                .body(body),
            kind,
            &id,
            version,
            true,
        )),
        Created::Replay { status, body } => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .map_err(|e| ApiError::Internal(format!("stored status: {e}")))?;
            let stored: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let response = HttpResponse::build(status)
                .content_type("application/json")
                .body(body);
            Ok(
                match (
                    stored["id"].as_str(),
                    stored["version"]
                        .as_i64()
                        .and_then(|v| i32::try_from(v).ok()),
                ) {
                    (Some(id), Some(version)) => {
                        with_version_headers(response, kind, id, version, true)
                    }
                    _ => response,
                },
            )
        }
    }
}

/// Filters and paging of a submission list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams, validator::Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubmissionListQuery {
    /// `register`, `workbook` or `claim`; on a kind's own list only that kind.
    pub kind: Option<SubmissionKind>,
    pub contract_id: Option<String>,
    /// Commissioners and auditors only; a provider sees its own.
    pub provider_id: Option<String>,
    pub status: Option<dayops_domain::submission::SubmissionStatus>,
    /// Periods starting on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Periods starting on or before this date.
    pub period_to: Option<NaiveDate>,
    /// Submissions whose current version has a finding with this code, e.g. `REG-002`.
    #[param(value_type = Option<dayops_domain::rules::FindingCode>)]
    pub finding_code: Option<String>,
    /// First submitted at or after this time.
    pub submitted_from: Option<chrono::DateTime<chrono::Utc>>,
    /// First submitted before this time.
    pub submitted_to: Option<chrono::DateTime<chrono::Utc>>,
    /// Only submissions changed (a new version, a decision, a payment) at or after this
    /// time.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100). A CSV export holds every match.
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

/// A kind's own list takes the same filters, less `kind`.
pub struct KindListQuery;

impl utoipa::IntoParams for KindListQuery {
    fn into_params(
        parameter_in_provider: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        SubmissionListQuery::into_params(parameter_in_provider)
            .into_iter()
            .filter(|parameter| parameter.name != "kind")
            .collect()
    }
}

impl CsvRow for SubmissionSummary {
    fn headers() -> &'static [&'static str] {
        &[
            "id",
            "kind",
            "contract_id",
            "provider_id",
            "period_start",
            "period_end",
            "current_version",
            "status",
            "created_at",
            "updated_at",
        ]
    }

    fn record(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            cell(self.kind),
            self.contract_id.clone(),
            self.provider_id.clone(),
            cell(self.period_start),
            cell(self.period_end),
            cell(self.current_version),
            cell(self.status),
            self.created_at.to_rfc3339(),
            self.updated_at.to_rfc3339(),
        ]
    }
}

/// Lists submissions the principal may see: of one `kind` on a kind's own list, of any
/// (or the asked) kind on `/v1/submissions`. JSON pages, or every match as streamed CSV.
pub async fn list_kind(
    principal: Principal,
    req: &HttpRequest,
    state: &actix_web::web::Data<crate::AppState>,
    query: SubmissionListQuery,
    kind: Option<SubmissionKind>,
) -> Result<HttpResponse, ApiError> {
    use dayops_persistence::submissions::SubmissionFilter;
    super::validate_query(&query)?;
    if let Some(code) = &query.finding_code {
        if dayops_domain::rules::Rule::parse(code).is_none() {
            return Err(ApiError::invalid(vec![dayops_domain::FieldError::new(
                "/query/finding_code",
                "is not a finding code (GET /v1/finding-codes lists them)",
            )]));
        }
    }
    if let (Some(own), Some(asked)) = (kind, query.kind) {
        if own != asked {
            return Err(ApiError::invalid(vec![dayops_domain::FieldError::new(
                "/query/kind",
                format!("this list holds {own} submissions only; use /v1/submissions"),
            )]));
        }
    }
    let csv = wants_csv(req);
    let Some(provider_id) = super::provider_filter(&principal, query.provider_id.clone()) else {
        return Ok(if csv {
            csv_response::<SubmissionSummary>(&[])?
        } else {
            super::empty_page::<SubmissionSummary>()
        });
    };
    let filter = SubmissionFilter {
        kind: kind.or(query.kind),
        provider_id,
        contract_id: query.contract_id,
        status: query.status,
        period_from: query.period_from,
        period_to: query.period_to,
        finding_code: query.finding_code,
        submitted_from: query.submitted_from,
        submitted_to: query.submitted_to,
        updated_since: query.updated_since,
    };
    let fetch =
        move |conn: &mut dayops_persistence::DbConnection, cursor: Option<&str>, limit: i64| {
            Ok(dayops_persistence::submissions::list(
                conn, &filter, cursor, limit,
            )?)
        };
    if csv {
        return Ok(stream_csv(state.clone(), query.cursor, fetch));
    }
    let limit = query.limit.unwrap_or(100);
    let cursor = query.cursor;
    let page = crate::run(state, move |conn| fetch(conn, cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Every kind of submission, for auditors and commissioners (a provider sees its own):
/// filter by provider, contract, kind, status, period, finding code and when first
/// submitted. Pages are keyed on the submission id, so paging while others submit
/// returns every earlier submission exactly once. `Accept: text/csv` exports every match.
#[utoipa::path(
    operation_id = "list_submissions",
    tag = "submissions",
    params(SubmissionListQuery),
    responses(
        (status = 200, description = "A page of submissions, or with `Accept: text/csv` every match",
            content((Page<SubmissionSummary> = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/submissions")]
pub async fn list(
    principal: Principal,
    req: HttpRequest,
    state: actix_web::web::Data<crate::AppState>,
    Query(query): Query<SubmissionListQuery>,
) -> Result<HttpResponse, ApiError> {
    list_kind(principal, &req, &state, query, None).await
}

/// A version number from a path: anything but a positive number names nothing (404).
pub fn version_number(text: &str) -> Result<i32, ApiError> {
    text.parse::<i32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(ApiError::not_found)
}

/// The finding-code catalogue: every code a submission's findings may carry.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingCodeCatalogue {
    pub items: Vec<dayops_domain::rules::RuleEntry>,
}

/// Every finding code (SPEC §5) with its severity policy, what it checks and the kinds of
/// submission it applies to, in SPEC order. Any role may read it.
#[utoipa::path(
    operation_id = "list_finding_codes",
    tag = "submissions",
    responses((status = 200, body = FindingCodeCatalogue), Problems<{ may::NO_DATABASE }>)
)]
#[get("/v1/finding-codes")]
pub async fn finding_codes(_principal: Principal) -> HttpResponse {
    let items = dayops_domain::rules::Rule::ALL
        .iter()
        .map(|rule| rule.entry())
        .collect();
    HttpResponse::Ok().json(FindingCodeCatalogue { items })
}
