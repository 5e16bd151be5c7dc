//! RFC 9457 problem details: the one mapping from errors to HTTP responses.

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
        "conflicts with stored data: a duplicate contract reference, an overlapping matrix version, a second submission for a period (`existing_id`), a request whose `Idempotency-Key` is still in flight, an illegal claim transition, amending a paid claim or any submission after its correction window (SUB-005; nothing is stored), or the proof of an audit event that still waits for the sequencer (retry in a second) or for its first signed checkpoint (at most a minute)";
    PayloadTooLarge => "payload-too-large", PAYLOAD_TOO_LARGE, "Request body is too large",
        "the body is over the limit (`DAYOPS_MAX_BODY_BYTES`, default 16 MiB), or a spreadsheet unpacks to more than 256 MiB";
    UnsupportedMediaType => "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported content type",
        "the body is not of a type the operation takes (JSON; CSV for registers; XLSX for workbooks)";
    Validation => "validation", UNPROCESSABLE_ENTITY, "Request is not valid",
        "the body or query breaks a rule; `errors` points at each field (CSV registers: `/rows/<row>/<column>`), or an `Idempotency-Key` was used for another request";
    PreconditionFailed => "precondition-failed", PRECONDITION_FAILED, "If-Match does not name the current version",
        "`If-Match` does not name the current version";
    PreconditionRequired => "precondition-required", PRECONDITION_REQUIRED, "If-Match is required",
        "an amendment without `If-Match`";
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

/// The http crate's one error type.
#[derive(Debug, thiserror::Error)]
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
            StoreError::PreconditionFailed { current_version } => ApiError::new(
                ProblemKind::PreconditionFailed,
                format!("the current version is {current_version}; fetch it and send its ETag"),
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

/// The OpenAPI responses of a set of problems, each with what it means for the operations
/// that declare the set.
fn problem_responses(
    set: &[(ProblemKind, &str)],
) -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
    set.iter()
        .map(|(kind, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            (kind.status().as_u16().to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a set of problems an operation may answer with, for `responses(…)`.
macro_rules! problem_set {
    ($(#[$meta:meta])* $name:ident { $($kind:ident: $description:literal,)+ }) => {
        $(#[$meta])*
        pub enum $name {}

        impl $name {
            pub const PROBLEMS: &'static [(ProblemKind, &'static str)] =
                &[$((ProblemKind::$kind, $description)),+];
        }

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
                problem_responses(Self::PROBLEMS)
            }
        }
    };
}

problem_set!(
    /// Problems a read may answer with.
    ReadProblems {
        BadRequest: "Malformed query",
        Unauthorized: "Missing or invalid bearer token",
        Forbidden: "Role may not call this operation",
        NotFound: "No such resource, or not visible to the caller",
        Validation: "Query parameters are not valid",
        TooManyRequests: "Rate limit for this principal spent; see Retry-After",
        Internal: "Internal error",
        Unavailable: "Database unavailable",
    }
);

problem_set!(
    /// Problems a write may answer with.
    WriteProblems {
        BadRequest: "Body is not well-formed JSON",
        Unauthorized: "Missing or invalid bearer token",
        Forbidden: "Role may not call this operation",
        NotFound: "No such resource, or not visible to the caller",
        Conflict: "Conflicts with stored data",
        PayloadTooLarge: "Body larger than the limit",
        UnsupportedMediaType: "Body is not JSON",
        Validation: "Body is not valid; `errors` points at each field",
        TooManyRequests: "Rate limit for this principal spent; see Retry-After",
        Internal: "Internal error",
        Unavailable: "Database unavailable",
    }
);

problem_set!(
    /// Problems a submission write may answer with.
    SubmissionProblems {
        BadRequest: "Body is not well-formed, or the Idempotency-Key header is missing",
        Unauthorized: "Missing or invalid bearer token",
        Forbidden: "Only providers submit",
        NotFound: "No such contract or submission, or not the caller's",
        Conflict: "A submission for the period exists (`existing_id`), or the same Idempotency-Key is in flight",
        PreconditionFailed: "If-Match does not name the current version",
        PayloadTooLarge: "Body larger than the limit",
        UnsupportedMediaType: "Body is neither JSON nor CSV",
        Validation: "Body is not well-formed (pointers to each field, or CSV row and column), or the Idempotency-Key was used for another request",
        PreconditionRequired: "An amendment needs If-Match",
        TooManyRequests: "Rate limit for this principal spent; see Retry-After",
        Internal: "Internal error",
        Unavailable: "Database unavailable",
    }
);

problem_set!(
    /// Problems a new submission, or a validation of one, may answer with: a submission
    /// write's, less the If-Match preconditions that only amendments have.
    CreateProblems {
        BadRequest: "Body is not well-formed, or the Idempotency-Key header is missing",
        Unauthorized: "Missing or invalid bearer token",
        Forbidden: "Only providers submit",
        NotFound: "No such contract, or not the caller's",
        Conflict: "A submission for the period exists (`existing_id`), or the same Idempotency-Key is in flight",
        PayloadTooLarge: "Body larger than the limit",
        UnsupportedMediaType: "Body is of a type the operation does not take",
        Validation: "Body is not well-formed (pointers to each field, or CSV row and column), or the Idempotency-Key was used for another request",
        TooManyRequests: "Rate limit for this principal spent; see Retry-After",
        Internal: "Internal error",
        Unavailable: "Database unavailable",
    }
);

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
        for set in [
            ReadProblems::PROBLEMS,
            WriteProblems::PROBLEMS,
            SubmissionProblems::PROBLEMS,
        ] {
            let statuses: std::collections::BTreeSet<u16> =
                set.iter().map(|(k, _)| k.status().as_u16()).collect();
            assert_eq!(statuses.len(), set.len());
        }
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
