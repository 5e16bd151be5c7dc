//! RFC 9457 problem details: the one mapping from errors to HTTP responses.

use actix_web::body::MessageBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use dayops_domain::FieldError;
use dayops_persistence::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client told that its request is still in flight should wait before
/// retrying: most writes finish within it.
pub const IN_FLIGHT_RETRY_SECONDS: u64 = 1;

/// A problem details object (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem; see docs/problems.md.
    #[schema(example = "/problems/validation")]
    #[serde(rename = "type")]
    pub problem_type: String,
    #[schema(example = "Request body is not valid")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "2 fields are not valid")]
    pub detail: String,
    /// Each offending field, for input errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For 409 on a create: the id of the existing object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<String>,
    /// Names this occurrence: the request's id (`X-Request-Id`) as a URN, as the logs
    /// name it.
    #[schema(example = "urn:dayops:request:0193a1f2-7c4e-7d21-9b0e-3f5c2a1d8e47")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// Declares the problem table: each kind with its slug, status, title and when it is
/// answered. The OpenAPI responses and `docs/problems.md` are generated from it.
macro_rules! problem_kinds {
    ($($kind:ident => $slug:literal, $status:ident, $title:literal, $when:literal;)+) => {
        /// Every kind of problem the API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ProblemKind { $($kind),+ }

        impl ProblemKind {
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$kind),+];

            fn slug(self) -> &'static str {
                match self { $(ProblemKind::$kind => $slug),+ }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ProblemKind::$kind => StatusCode::$status),+ }
            }

            pub fn title(self) -> &'static str {
                match self { $(ProblemKind::$kind => $title),+ }
            }

            /// When the API answers with it, for `docs/problems.md`.
            pub fn when(self) -> &'static str {
                match self { $(ProblemKind::$kind => $when),+ }
            }
        }
    };
}

problem_kinds! {
    BadRequest => "bad-request", BAD_REQUEST, "Request is malformed",
        "the body is not well-formed JSON (`errors[0].pointer` says where parsing stopped), or a create lacks its `Idempotency-Key`";
    Unauthorized => "unauthorized", UNAUTHORIZED, "Authentication required",
        "no bearer token, or one that does not verify; `WWW-Authenticate: Bearer`";
    Forbidden => "forbidden", FORBIDDEN, "Not permitted for this role",
        "the role may not call the operation";
    NotFound => "not-found", NOT_FOUND, "Not found",
        "no such path or object, or an object of another provider (same body)";
    MethodNotAllowed => "method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed",
        "the path exists with other methods; see `Allow`";
    Conflict => "conflict", CONFLICT, "Conflicts with stored data",
        "conflicts with stored data: a duplicate contract reference, an overlapping matrix version, a second submission for a period (`existing_id`), an illegal claim transition, amending a paid claim or any submission after its correction window (SUB-005; nothing is stored), or the proof of an audit event that still waits for the sequencer (retry in a second) or for its first signed checkpoint (at most a minute)";
    InFlight => "in-flight", CONFLICT, "Request still in progress",
        "the first request with this `Idempotency-Key` is still being processed (or its process stopped less than 20 seconds ago: a running request renews its claim every 5): retry after `Retry-After` seconds; unlike `/problems/conflict`, retrying is right";
    RequestTimeout => "request-timeout", REQUEST_TIMEOUT, "Request body too slow",
        "the body did not arrive within `DAYOPS_BODY_TIMEOUT_SECONDS` (default 30) of the request; the connection is closed";
    PayloadTooLarge => "payload-too-large", PAYLOAD_TOO_LARGE, "Request body is too large",
        "the body is over the limit (`DAYOPS_MAX_BODY_BYTES`, default 16 MiB), before or after gzip decoding, or a spreadsheet unpacks to more than 256 MiB";
    UnsupportedMediaType => "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported content type",
        "the body is not of a type the operation takes (JSON; CSV for registers; XLSX for workbooks), or its `Content-Encoding` is neither `gzip` nor `identity`";
    Validation => "validation", UNPROCESSABLE_ENTITY, "Request is not valid",
        "the body or query breaks a rule; `errors` points at each field (CSV registers: `/rows/<row>/<column>`), or an `Idempotency-Key` was used for another request";
    PreconditionFailed => "precondition-failed", PRECONDITION_FAILED, "If-Match does not name the current version",
        "`If-Match` does not name the current version (of a submission, provider or contract): someone changed it since it was read";
    PreconditionRequired => "precondition-required", PRECONDITION_REQUIRED, "If-Match is required",
        "an amendment, or a provider's or contract's patch, without `If-Match`";
    HeaderTooLarge => "header-too-large", REQUEST_HEADER_FIELDS_TOO_LARGE, "Request headers too large",
        "the request's headers (a token, say) are larger than the 128 KiB the service reads; the connection is closed";
    TooManyRequests => "too-many-requests", TOO_MANY_REQUESTS, "Too many requests",
        "the principal's rate limit is spent; see `Retry-After`";
    Unavailable => "unavailable", SERVICE_UNAVAILABLE, "Service temporarily unavailable",
        "the database cannot be reached";
    Internal => "internal", INTERNAL_SERVER_ERROR, "Internal error",
        "anything else; the cause is logged, never returned";
}

impl ProblemKind {
    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.slug())
    }
}

/// `docs/problems.md`, generated from the problem table.
pub fn problems_markdown() -> String {
    let mut md = String::from(
        "# Problem types\n\n\
         Generated from the problem table (`crates/http/src/problem.rs`); do not edit by hand.\n\
         Regenerate with `DAYOPS_WRITE_DOCS=1 cargo test -p dayops-http problems`.\n\n\
         Every error response is RFC 9457 `application/problem+json`:\n\n\
         ```json\n\
         {\"type\": \"/problems/validation\", \"title\": \"Request is not valid\", \"status\": 422,\n \
         \"detail\": \"1 field is not valid\",\n \
         \"errors\": [{\"pointer\": \"/cells/3/rate_pence\", \"detail\": \"must not be negative\"}]}\n\
         ```\n\n\
         | type | status | title | when |\n|---|---|---|---|\n",
    );
    for kind in ProblemKind::ALL {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            kind.type_uri(),
            kind.status().as_u16(),
            kind.title(),
            kind.when()
        ));
    }
    md.push_str(
        "\nPointers are JSON pointers (RFC 6901) into the request body; for query parameters \
         they are\n`/query/<name>`.\n",
    );
    md
}

/// The http crate's one error type. Its `Debug` names the kind only: actix-web logs
/// errors with `Debug` at debug level, and details may quote what the client sent.
#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Problem {
        kind: ProblemKind,
        detail: String,
        errors: Vec<FieldError>,
        existing_id: Option<String>,
        allow: Option<String>,
    },
    /// The principal's rate limit is spent; retry after this many seconds.
    #[error("rate limited")]
    RateLimited(u64),
    /// Logged with its cause and answered as a plain 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // An internal cause is ours, never the client's; it is logged where it arises.
            ApiError::Internal(_) => f.write_str("ApiError(internal)"),
            other => write!(f, "ApiError({})", other.kind().slug()),
        }
    }
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError::Problem {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            existing_id: None,
            allow: None,
        }
    }

    pub fn with_errors(
        kind: ProblemKind,
        detail: impl Into<String>,
        errors: Vec<FieldError>,
    ) -> Self {
        ApiError::Problem {
            kind,
            detail: detail.into(),
            errors,
            existing_id: None,
            allow: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unauthorized, detail)
    }

    pub fn forbidden() -> Self {
        Self::new(
            ProblemKind::Forbidden,
            "your role may not perform this operation",
        )
    }

    /// The same answer for an id that does not exist and one the caller may not see.
    pub fn not_found() -> Self {
        Self::new(ProblemKind::NotFound, "no such resource")
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is not valid".to_string(),
            n => format!("{n} fields are not valid"),
        };
        Self::with_errors(ProblemKind::Validation, detail, errors)
    }

    pub fn method_not_allowed(allow: Vec<&str>) -> Self {
        ApiError::Problem {
            kind: ProblemKind::MethodNotAllowed,
            detail: format!("this resource supports {}", allow.join(", ")),
            errors: Vec::new(),
            existing_id: None,
            allow: Some(allow.join(", ")),
        }
    }

    fn kind(&self) -> ProblemKind {
        match self {
            ApiError::Problem { kind, .. } => *kind,
            ApiError::RateLimited(_) => ProblemKind::TooManyRequests,
            ApiError::Internal(_) => ProblemKind::Internal,
        }
    }

    pub fn problem(&self) -> Problem {
        let kind = self.kind();
        let (detail, errors, existing_id) = match self {
            ApiError::Problem {
                detail,
                errors,
                existing_id,
                ..
            } => (detail.clone(), errors.clone(), existing_id.clone()),
            ApiError::RateLimited(seconds) => (
                format!("the request rate limit for this principal is spent; retry in {seconds} s"),
                Vec::new(),
                None,
            ),
            ApiError::Internal(_) => (
                "the request could not be completed".to_string(),
                Vec::new(),
                None,
            ),
        };
        Problem {
            problem_type: kind.type_uri(),
            title: kind.title().to_string(),
            status: kind.status().as_u16(),
            detail,
            errors,
            existing_id,
            instance: crate::request_id::current().map(|id| id.instance()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().status()
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let ApiError::RateLimited(seconds) = self {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let ApiError::Problem { kind, allow, .. } = self {
            if *kind == ProblemKind::InFlight {
                response.insert_header((header::RETRY_AFTER, IN_FLIGHT_RETRY_SECONDS.to_string()));
            }
            if *kind == ProblemKind::RequestTimeout {
                // The rest of the body may still be on its way: the connection cannot
                // carry another request.
                response.force_close();
            }
            if *kind == ProblemKind::Unauthorized {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            if let Some(allow) = allow {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
        }
        response.json(self.problem())
    }
}

/// Middleware: an error answered by something other than our handlers (the CORS layer
/// refusing an origin, actix-web itself) is turned into problem+json too, with the text
/// it gave as the detail.
pub async fn ensure_problem(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() || is_problem {
        return Ok(response);
    }
    let kind = ProblemKind::ALL
        .iter()
        .copied()
        .find(|k| k.status() == status)
        .unwrap_or(if status.is_server_error() {
            ProblemKind::Internal
        } else {
            ProblemKind::BadRequest
        });
    let (req, original) = response.into_parts();
    let said = original
        .into_body()
        .try_into_bytes()
        .ok()
        .filter(|b| !b.is_empty() && b.len() <= 1024)
        .and_then(|b| String::from_utf8(b.to_vec()).ok());
    let detail = said.unwrap_or_else(|| kind.title().to_string());
    let mut problem = ApiError::new(kind, detail).error_response();
    *problem.status_mut() = status;
    Ok(actix_web::dev::ServiceResponse::new(req, problem))
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Invalid(errors) => ApiError::invalid(errors),
            StoreError::Conflict { detail, errors } => {
                ApiError::with_errors(ProblemKind::Conflict, detail, errors)
            }
            StoreError::Duplicate { existing_id } => ApiError::Problem {
                kind: ProblemKind::Conflict,
                detail: format!("a submission for this contract and period exists ({existing_id}); amend it with PUT"),
                errors: Vec::new(),
                existing_id: Some(existing_id),
                allow: None,
            },
            StoreError::PreconditionFailed { current_etag } => ApiError::new(
                ProblemKind::PreconditionFailed,
                format!("the current ETag is {current_etag}; fetch it again, and send its ETag"),
            ),
            StoreError::Unavailable(cause) => {
                log::error!("database unavailable: {cause}");
                ApiError::new(
                    ProblemKind::Unavailable,
                    "the database is not reachable; try again shortly",
                )
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// What can go wrong in an operation, as flags for [`Problems`]. Every operation that
/// takes a token and reads the database may answer 401, 429, 500 and 503; each flag adds
/// the statuses of one more way to fail.
pub mod may {
    /// Only some roles may call it: 403.
    pub const ROLE: u32 = 1;
    /// It names something by id (in its path, or a query parameter it must find): 404.
    pub const FIND: u32 = 1 << 1;
    /// It takes query parameters: 422 pointing at `/query/<name>`.
    pub const QUERY: u32 = 1 << 2;
    /// It takes a body: 400, 408, 413, 415 and 422.
    pub const BODY: u32 = 1 << 3;
    /// It can collide with stored data: 409.
    pub const CONFLICT: u32 = 1 << 4;
    /// It needs an Idempotency-Key: 400 without one, 409 while it is in flight, 422 when it
    /// was used for another request.
    pub const IDEMPOTENT: u32 = 1 << 5;
    /// It amends a versioned submission: 412 and 428.
    pub const IF_MATCH: u32 = 1 << 6;
    /// It answers from the binary alone (a catalogue), so never 503.
    pub const NO_DATABASE: u32 = 1 << 7;
}

/// The problems an operation may answer with, for `responses(…)`: `SET` is a union of
/// [`may`] flags, so each operation declares exactly the statuses it can return.
pub struct Problems<const SET: u32>;

impl<const SET: u32> Problems<SET> {
    /// Each status the set may answer, with what it means for the operation.
    pub fn described() -> Vec<(ProblemKind, String)> {
        let has = |flag: u32| SET & flag != 0;
        ProblemKind::ALL
            .iter()
            .filter_map(|kind| {
                let parts: Vec<&str> = match kind {
                    ProblemKind::BadRequest => those(&[
                        (has(may::BODY), "The body is not well-formed (its JSON syntax, or a CSV or XLSX file that cannot be read)"),
                        (has(may::IDEMPOTENT), "the Idempotency-Key header is missing"),
                    ]),
                    ProblemKind::Unauthorized => vec!["Missing or invalid bearer token"],
                    ProblemKind::Forbidden if has(may::ROLE) => {
                        vec!["The token's role may not call this operation"]
                    }
                    ProblemKind::NotFound if has(may::FIND) => {
                        vec!["No such resource, or not visible to the caller"]
                    }
                    ProblemKind::Conflict => those(&[
                        (has(may::CONFLICT), "Conflicts with stored data (for a new submission: one exists for the period, named in `existing_id`)"),
                        (has(may::IDEMPOTENT), "the first request with the same Idempotency-Key is still in progress (`/problems/in-flight`, with `Retry-After`: retry then)"),
                    ]),
                    ProblemKind::PreconditionFailed if has(may::IF_MATCH) => {
                        vec!["If-Match does not name the current version"]
                    }
                    ProblemKind::PreconditionRequired if has(may::IF_MATCH) => {
                        vec!["A change needs If-Match"]
                    }
                    ProblemKind::RequestTimeout if has(may::BODY) => {
                        vec!["The body did not arrive in time; the connection is closed"]
                    }
                    ProblemKind::PayloadTooLarge if has(may::BODY) => {
                        vec!["The body is larger than the limit"]
                    }
                    ProblemKind::UnsupportedMediaType if has(may::BODY) => {
                        vec!["The body is of a type (or `Content-Encoding`) the operation does not take"]
                    }
                    ProblemKind::Validation => those(&[
                        (has(may::BODY), "The body is not valid: `errors` points at each field (or CSV row and column)"),
                        (has(may::QUERY), "a query parameter is not valid (`/query/<name>`)"),
                        (has(may::IDEMPOTENT), "the Idempotency-Key was used for another request"),
                    ]),
                    ProblemKind::TooManyRequests => {
                        vec!["The rate limit for this principal is spent; see Retry-After"]
                    }
                    ProblemKind::HeaderTooLarge => {
                        vec!["The request's headers are larger than 128 KiB"]
                    }
                    // Its 409 is described with Conflict's, under the same status.
                    ProblemKind::InFlight => Vec::new(),
                    ProblemKind::Internal => vec!["Internal error"],
                    ProblemKind::Unavailable if !has(may::NO_DATABASE) => {
                        vec!["The database is unavailable"]
                    }
                    _ => Vec::new(),
                };
                (!parts.is_empty()).then(|| (*kind, sentence(&parts)))
            })
            .collect()
    }
}

/// The texts whose condition holds.
fn those(parts: &[(bool, &'static str)]) -> Vec<&'static str> {
    parts
        .iter()
        .filter_map(|(on, text)| on.then_some(*text))
        .collect()
}

/// Joins the parts of a description: "A; or b".
fn sentence(parts: &[&str]) -> String {
    let mut text = parts.join("; or ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text
}

impl<const SET: u32> IntoResponses for Problems<SET> {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        Self::described()
            .into_iter()
            .map(|(kind, description)| {
                // A 409 of an operation with an Idempotency-Key may be the in-flight one.
                let retry_after = SET & may::IDEMPOTENT != 0 && kind == ProblemKind::Conflict;
                (
                    kind.status().as_u16().to_string(),
                    RefOr::T(problem_response(kind, &description, retry_after)),
                )
            })
            .collect()
    }
}

/// A problem response in the document, with the headers that status carries.
pub fn problem_response(
    kind: ProblemKind,
    description: &str,
    retry_after: bool,
) -> utoipa::openapi::response::Response {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let mut response = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    let header = |description: &str, schema: ObjectBuilder| {
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(description))
            .build()
    };
    match kind {
        ProblemKind::Unauthorized => {
            response = response.header(
                "WWW-Authenticate",
                header(
                    "Always `Bearer`",
                    ObjectBuilder::new().schema_type(Type::String),
                ),
            );
        }
        ProblemKind::TooManyRequests => {
            response = response.header(
                "Retry-After",
                header(
                    "Seconds until the principal's bucket has a request again",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ),
            );
        }
        ProblemKind::Conflict if retry_after => {
            response = response.header(
                "Retry-After",
                header(
                    "On `/problems/in-flight` only: seconds to wait before retrying",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ),
            );
        }
        _ => {}
    }
    response.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn problem_json_is_exact() {
        let error = ApiError::invalid(vec![FieldError::new("/name", "must not be blank")]);
        let response = error.error_response();
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            PROBLEM_JSON
        );
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "/problems/validation",
                "title": "Request is not valid",
                "status": 422,
                "detail": "1 field is not valid",
                "errors": [{"pointer": "/name", "detail": "must not be blank"}]
            })
        );
    }

    /// `docs/problems.md` is the table as it stands; `DAYOPS_WRITE_DOCS=1` rewrites it.
    #[test]
    fn problems_doc_is_generated_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/problems.md");
        let generated = problems_markdown();
        if std::env::var_os("DAYOPS_WRITE_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/problems.md is stale: run DAYOPS_WRITE_DOCS=1 cargo test -p dayops-http problems"
        );
    }

    #[test]
    fn problem_sets_name_each_status_once() {
        use may::*;
        let read = Problems::<0>::described();
        let statuses = |set: &[(ProblemKind, String)]| -> Vec<u16> {
            let mut statuses: Vec<u16> = set.iter().map(|(k, _)| k.status().as_u16()).collect();
            statuses.sort_unstable();
            statuses
        };
        assert_eq!(statuses(&read), [401, 429, 431, 500, 503]);
        let amend = Problems::<{ ROLE | FIND | BODY | CONFLICT | IF_MATCH }>::described();
        assert_eq!(
            statuses(&amend),
            [400, 401, 403, 404, 408, 409, 412, 413, 415, 422, 428, 429, 431, 500, 503]
        );
        let create = Problems::<{ ROLE | BODY | IDEMPOTENT }>::described();
        let conflict = &create
            .iter()
            .find(|(k, _)| *k == ProblemKind::Conflict)
            .unwrap()
            .1;
        assert!(conflict.contains("/problems/in-flight"), "{conflict}");
    }

    #[test]
    fn every_kind_has_a_distinct_type_and_matching_status() {
        let mut types = std::collections::BTreeSet::new();
        for kind in ProblemKind::ALL {
            assert!(types.insert(kind.type_uri()), "{kind:?}");
            let problem = ApiError::new(*kind, "x").problem();
            assert_eq!(problem.status, kind.status().as_u16());
        }
    }

    #[actix_web::test]
    async fn internal_errors_do_not_leak() {
        let response = ApiError::Internal("SELECT secret FROM x failed at /srv/app.rs".into())
            .error_response();
        let body = to_bytes(response.into_body()).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("SELECT") && !text.contains("/srv"), "{text}");
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let response = ApiError::unauthorized("missing token").error_response();
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            "Bearer"
        );
    }
}
