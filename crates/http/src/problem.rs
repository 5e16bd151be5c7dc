//! RFC 9457 problem details: the one mapping from errors to HTTP responses.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
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

/// Every kind of problem the API answers with: slug, status and title in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    PreconditionRequired,
    TooManyRequests,
    Unavailable,
    Internal,
}

impl ProblemKind {
    pub const ALL: &'static [ProblemKind] = &[
        ProblemKind::BadRequest,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Conflict,
        ProblemKind::PreconditionFailed,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Validation,
        ProblemKind::PreconditionRequired,
        ProblemKind::TooManyRequests,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
    ];

    /// (slug, status, title)
    fn row(self) -> (&'static str, StatusCode, &'static str) {
        match self {
            ProblemKind::BadRequest => (
                "bad-request",
                StatusCode::BAD_REQUEST,
                "Request is malformed",
            ),
            ProblemKind::Unauthorized => (
                "unauthorized",
                StatusCode::UNAUTHORIZED,
                "Authentication required",
            ),
            ProblemKind::Forbidden => (
                "forbidden",
                StatusCode::FORBIDDEN,
                "Not permitted for this role",
            ),
            ProblemKind::NotFound => ("not-found", StatusCode::NOT_FOUND, "Not found"),
            ProblemKind::MethodNotAllowed => (
                "method-not-allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            ProblemKind::Conflict => (
                "conflict",
                StatusCode::CONFLICT,
                "Conflicts with stored data",
            ),
            ProblemKind::PreconditionFailed => (
                "precondition-failed",
                StatusCode::PRECONDITION_FAILED,
                "If-Match does not name the current version",
            ),
            ProblemKind::PreconditionRequired => (
                "precondition-required",
                StatusCode::PRECONDITION_REQUIRED,
                "If-Match is required",
            ),
            ProblemKind::TooManyRequests => (
                "too-many-requests",
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
            ),
            ProblemKind::PayloadTooLarge => (
                "payload-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is too large",
            ),
            ProblemKind::UnsupportedMediaType => (
                "unsupported-media-type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported content type",
            ),
            ProblemKind::Validation => (
                "validation",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Request is not valid",
            ),
            ProblemKind::Unavailable => (
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
            ),
            ProblemKind::Internal => (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ),
        }
    }

    pub fn status(self) -> StatusCode {
        self.row().1
    }

    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.row().0)
    }

    pub fn title(self) -> &'static str {
        self.row().2
    }
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

/// Problems a read may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadProblems {
    #[response(
        status = 400,
        description = "Malformed query",
        content_type = "application/problem+json"
    )]
    BadRequest(Problem),
    #[response(
        status = 401,
        description = "Missing or invalid bearer token",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "Role may not call this operation",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such resource, or not visible to the caller",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 422,
        description = "Query parameters are not valid",
        content_type = "application/problem+json"
    )]
    Validation(Problem),
    #[response(
        status = 429,
        description = "Rate limit for this principal spent; see Retry-After",
        content_type = "application/problem+json"
    )]
    TooManyRequests(Problem),
    #[response(
        status = 500,
        description = "Internal error",
        content_type = "application/problem+json"
    )]
    Internal(Problem),
    #[response(
        status = 503,
        description = "Database unavailable",
        content_type = "application/problem+json"
    )]
    Unavailable(Problem),
}

/// Problems a write may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WriteProblems {
    #[response(
        status = 400,
        description = "Body is not well-formed JSON",
        content_type = "application/problem+json"
    )]
    BadRequest(Problem),
    #[response(
        status = 401,
        description = "Missing or invalid bearer token",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "Role may not call this operation",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such resource, or not visible to the caller",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 409,
        description = "Conflicts with stored data",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 413,
        description = "Body larger than the limit",
        content_type = "application/problem+json"
    )]
    PayloadTooLarge(Problem),
    #[response(
        status = 415,
        description = "Body is not JSON",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Body is not valid; `errors` points at each field",
        content_type = "application/problem+json"
    )]
    Validation(Problem),
    #[response(
        status = 429,
        description = "Rate limit for this principal spent; see Retry-After",
        content_type = "application/problem+json"
    )]
    TooManyRequests(Problem),
    #[response(
        status = 500,
        description = "Internal error",
        content_type = "application/problem+json"
    )]
    Internal(Problem),
    #[response(
        status = 503,
        description = "Database unavailable",
        content_type = "application/problem+json"
    )]
    Unavailable(Problem),
}

/// Problems a submission write may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum SubmissionProblems {
    #[response(
        status = 400,
        description = "Body is not well-formed, or the Idempotency-Key header is missing",
        content_type = "application/problem+json"
    )]
    BadRequest(Problem),
    #[response(
        status = 401,
        description = "Missing or invalid bearer token",
        content_type = "application/problem+json"
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "Only providers submit",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 404,
        description = "No such contract or submission, or not the caller's",
        content_type = "application/problem+json"
    )]
    NotFound(Problem),
    #[response(
        status = 409,
        description = "A submission for the period exists (`existing_id`), or the same Idempotency-Key is in flight",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 412,
        description = "If-Match does not name the current version",
        content_type = "application/problem+json"
    )]
    PreconditionFailed(Problem),
    #[response(
        status = 413,
        description = "Body larger than the limit",
        content_type = "application/problem+json"
    )]
    PayloadTooLarge(Problem),
    #[response(
        status = 415,
        description = "Body is neither JSON nor CSV",
        content_type = "application/problem+json"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "Body is not well-formed (pointers to each field, or CSV row and column), or the Idempotency-Key was used for another request",
        content_type = "application/problem+json"
    )]
    Validation(Problem),
    #[response(
        status = 428,
        description = "An amendment needs If-Match",
        content_type = "application/problem+json"
    )]
    PreconditionRequired(Problem),
    #[response(
        status = 429,
        description = "Rate limit for this principal spent; see Retry-After",
        content_type = "application/problem+json"
    )]
    TooManyRequests(Problem),
    #[response(
        status = 500,
        description = "Internal error",
        content_type = "application/problem+json"
    )]
    Internal(Problem),
    #[response(
        status = 503,
        description = "Database unavailable",
        content_type = "application/problem+json"
    )]
    Unavailable(Problem),
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
