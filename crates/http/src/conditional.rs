//! Conditional requests (RFC 9110 §13): `If-None-Match` on reads answers 304 when the
//! client's copy is current, and the API documentation is served with validators and
//! cache lifetimes. `If-Match` on writes is checked by each write, in its transaction
//! (`routes::precondition`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

/// Whether an `If-None-Match` value names `etag`: `*`, or any listed tag by the weak
/// comparison (a `W/` prefix is ignored on either side).
pub fn none_match_names(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let current = opaque(etag);
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .any(|tag| !tag.trim().is_empty() && opaque(tag) == current)
}

/// Middleware: a successful `GET` whose answer carries an `ETag` named by the request's
/// `If-None-Match` is answered 304 with that `ETag` and no body.
pub async fn not_modified(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let asked = (req.method() == Method::GET)
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let response = next.call(req).await?.map_into_boxed_body();
    let Some(asked) = asked.as_ref().and_then(|v| v.to_str().ok()) else {
        return Ok(response);
    };
    let current = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match current {
        Some(etag) if response.status() == StatusCode::OK && none_match_names(asked, &etag) => {
            let mut unchanged = HttpResponse::NotModified();
            for name in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
                if let Some(value) = response.headers().get(&name) {
                    unchanged.insert_header((name, value.clone()));
                }
            }
            let (req, _) = response.into_parts();
            Ok(ServiceResponse::new(req, unchanged.finish()))
        }
        _ => Ok(response),
    }
}

/// The validator of everything under `/docs` and of `/openapi.json`: both are fixed in
/// the binary, so one tag, from the document's content, serves them all.
pub fn docs_etag(document: &serde_json::Value) -> String {
    let digest = dayops_domain::canonical::sha256_hex(document.to_string().as_bytes());
    format!("\"docs-{}\"", &digest[..16])
}

/// Middleware: the documentation's answers carry the binary's `ETag` and a cache
/// lifetime: the Swagger UI's files an hour, the document itself revalidated each time
/// (a 304 when unchanged).
pub async fn docs_caching(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.path().to_string();
    let etag = req
        .app_data::<actix_web::web::Data<crate::AppState>>()
        .map(|state| state.docs_etag.clone());
    let mut response = next.call(req).await?.map_into_boxed_body();
    let lifetime = if path == "/openapi.json" {
        "no-cache"
    } else if path.starts_with("/docs/") {
        "public, max-age=3600"
    } else {
        return Ok(response);
    };
    if response.status() == StatusCode::OK {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(lifetime));
        if let Some(value) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            headers.insert(header::ETAG, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly() {
        let cases = [
            (r#""abc""#, true),
            (r#"W/"abc""#, true),
            (r#""x", "abc""#, true),
            ("*", true),
            (r#""abd""#, false),
            ("", false),
        ];
        for (header, expected) in cases {
            assert_eq!(none_match_names(header, r#""abc""#), expected, "{header}");
        }
    }
}
