//! Request extractors that answer bad input with problem+json pointing at the field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use dayops_domain::error::escape_token;
use dayops_domain::FieldError;

use crate::problem::{ApiError, ProblemKind};

/// The body size limit, shared by every extractor (`DAYOPS_MAX_BODY_BYTES`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit(16 * 1024 * 1024)
    }
}

/// How long a body may take to arrive, from when the handler starts reading it
/// (`DAYOPS_BODY_TIMEOUT_SECONDS`): a client dribbling bytes, or sending none after its
/// headers, would otherwise hold a connection (and a worker's memory) for ever.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

impl Default for BodyTimeout {
    fn default() -> Self {
        BodyTimeout(std::time::Duration::from_secs(30))
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the body limit is {limit} bytes"),
    )
}

/// Reads the whole body within the body timeout (408 after it), refusing anything over
/// the limit with 413 (before buffering it when Content-Length already says so). A
/// `Content-Encoding: gzip` body is decoded, and the limit holds for what it decodes to;
/// any other encoding is 415.
pub async fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<web::BytesMut, ApiError> {
    let limit = req.app_data::<BodyLimit>().copied().unwrap_or_default().0;
    let timeout = req.app_data::<BodyTimeout>().copied().unwrap_or_default().0;
    let gzip = match req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("identity") => false,
        Some("gzip" | "x-gzip") => true,
        Some(_) => {
            return Err(ApiError::with_errors(
                ProblemKind::UnsupportedMediaType,
                "the body's Content-Encoding is not supported: send it as it is, or gzip",
                vec![FieldError::new(
                    "/headers/Content-Encoding",
                    "must be gzip or identity",
                )],
            ))
        }
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let read = async {
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    ProblemKind::BadRequest,
                    format!("cannot read the body: {e}"),
                )
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = actix_web::rt::time::timeout(timeout, read)
        .await
        .map_err(|_| {
            ApiError::new(
                ProblemKind::RequestTimeout,
                format!(
                    "the body did not arrive within {} seconds",
                    timeout.as_secs()
                ),
            )
        })??;
    if gzip {
        gunzip(&body, limit)
    } else {
        Ok(body)
    }
}

/// Decodes a gzip body, stopping (413) as soon as it passes `limit`: a small body that
/// unpacks to gigabytes costs no more than the limit.
fn gunzip(body: &[u8], limit: usize) -> Result<web::BytesMut, ApiError> {
    use std::io::Read;
    let mut decoded = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut decoded)
        .map_err(|_| {
            ApiError::with_errors(
                ProblemKind::BadRequest,
                "the body is not valid gzip",
                vec![FieldError::new(
                    "",
                    "Content-Encoding says gzip; the body does not decode",
                )],
            )
        })?;
    if decoded.len() > limit {
        return Err(too_large(limit));
    }
    Ok(web::BytesMut::from(&decoded[..]))
}

/// The media type of the request, lower-cased, without parameters.
pub fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Turns a serde path into a JSON pointer.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", escape_token(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", escape_token(variant))),
            Segment::Unknown => {}
        }
    }
    pointer
}

/// Splits serde's message into the pointer it concerns and a clean detail: a missing
/// field is reported at the field itself, and serde_json's "at line … column …" suffix
/// is dropped because the pointer says where.
fn field_error(base: String, message: &str) -> FieldError {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(field) = rest.strip_suffix('`') {
            return FieldError::new(format!("{base}/{}", escape_token(field)), "is required");
        }
    }
    FieldError::new(base, message.to_string())
}

/// Deserialises JSON, answering 400 for malformed JSON and 422 for a well-formed document
/// of the wrong shape, each with a pointer.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let malformed = |pointer: String, inner: &serde_json::Error| {
        ApiError::with_errors(
            ProblemKind::BadRequest,
            format!(
                "the body is not well-formed JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ),
            vec![FieldError::new(pointer, inner.to_string())],
        )
    };
    let value: T = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(error) => {
            let pointer = pointer_of(error.path());
            let inner = error.inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(malformed(pointer, inner));
            }
            if inner
                .to_string()
                .starts_with("invalid type: floating point")
            {
                // Perhaps a whole number written as a float: read it again as a value.
                let value: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| malformed(String::new(), &e))?;
                return from_value(value);
            }
            return Err(ApiError::invalid(vec![field_error(
                pointer,
                &inner.to_string(),
            )]));
        }
    };
    deserializer
        .end()
        .map_err(|e| malformed(String::new(), &e))?;
    Ok(value)
}

/// Rewrites whole-number floats (`135.0`) as integers. JSON Schema, and every client
/// generated from the document, treat `135.0` as the integer 135; serde refuses it for an
/// integer field. Fields that take fractions accept integers as they are.
pub fn whole_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else { return };
            // 2^63: the first float past every i64 (and the range checked below is exact).
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
                let whole = f as i64;
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_floats_as_integers),
        Value::Object(members) => members.values_mut().for_each(whole_floats_as_integers),
        _ => {}
    }
}

/// Deserialises a `serde_json::Value` already parsed, with pointers (whole-number floats
/// read as integers).
pub fn from_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    whole_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        ApiError::invalid(vec![field_error(
            pointer_of(error.path()),
            &error.inner().to_string(),
        )])
    })
}

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            match media_type(&req) {
                Some(media) if is_json(&media) => {}
                Some(media) => {
                    return Err(ApiError::new(
                        ProblemKind::UnsupportedMediaType,
                        format!("expected application/json, got {media}"),
                    ))
                }
                None => {
                    return Err(ApiError::new(
                        ProblemKind::UnsupportedMediaType,
                        "a Content-Type of application/json is required",
                    ))
                }
            }
            let body = read_body(&req, &mut payload).await?;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// Query parameters of type `T`; errors point at `/query/<name>`.
pub struct Query<T>(pub T);

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner().to_string();
        let base = format!("/query{}", pointer_of(error.path()));
        let mut field = field_error(base, &inner);
        if field.detail.starts_with("unknown field") {
            field.detail = format!("unknown query parameter: {}", field.detail);
        }
        ApiError::invalid(vec![field])
    })
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayops_domain::contract::ContractInput;
    use serde::Deserialize;

    fn errors_of(error: ApiError) -> (u16, Vec<(String, String)>) {
        let problem = error.problem();
        (
            problem.status,
            problem
                .errors
                .into_iter()
                .map(|e| (e.pointer, e.detail))
                .collect(),
        )
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        date: chrono::NaiveDate,
        count: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        lines: Vec<Line>,
    }

    #[test]
    fn pointers_for_shape_errors() {
        let cases = [
            (
                r#"{"name": "a", "lines": [{"date": "2025-01-01", "count": -1}]}"#,
                422,
                "/lines/0/count",
            ),
            (
                r#"{"name": "a", "lines": [{"date": "2025-02-30", "count": 1}]}"#,
                422,
                "/lines/0/date",
            ),
            (
                r#"{"name": "a", "lines": [{"date": "2025-01-01"}]}"#,
                422,
                "/lines/0/count",
            ),
            (r#"{"lines": []}"#, 422, "/name"),
            (r#"{"name": "a", "lines": [], "extra": 1}"#, 422, "/extra"),
            (r#"{"name": "a", "lines": [}"#, 400, "/lines/0"),
            (r#"{"name": "a", "lines": []} trailing"#, 400, ""),
        ];
        for (body, status, pointer) in cases {
            let (got_status, errors) = errors_of(parse_json::<Doc>(body.as_bytes()).unwrap_err());
            assert_eq!(got_status, status, "{body}");
            assert_eq!(errors[0].0, pointer, "{body}: {errors:?}");
        }
    }

    #[test]
    fn whole_number_floats_are_integers() {
        let doc: Doc =
            parse_json(br#"{"name": "a", "lines": [{"date": "2025-01-01", "count": 135.0}]}"#)
                .unwrap();
        assert_eq!(doc.lines[0].count, 135);
        for (body, pointer) in [
            (
                r#"{"name": "a", "lines": [{"date": "2025-01-01", "count": 135.5}]}"#,
                "/lines/0/count",
            ),
            (
                r#"{"name": "a", "lines": [{"date": "2025-01-01", "count": -1.0}]}"#,
                "/lines/0/count",
            ),
            (
                r#"{"name": "a", "lines": [{"date": "2025-01-01", "count": 1e300}]}"#,
                "/lines/0/count",
            ),
        ] {
            let (status, errors) = errors_of(parse_json::<Doc>(body.as_bytes()).unwrap_err());
            assert_eq!((status, errors[0].0.as_str()), (422, pointer), "{body}");
        }
        let mut v = serde_json::json!({"a": [1.0, 2.5, -3.0, 7], "b": {"c": 0.0}});
        whole_floats_as_integers(&mut v);
        assert_eq!(v, serde_json::json!({"a": [1, 2.5, -3, 7], "b": {"c": 0}}));
        assert!(v["a"][0].is_i64());
    }

    #[test]
    fn enum_errors_name_the_choices() {
        let mut v = serde_json::json!({
            "reference": "X", "provider_id": "p", "service_type": "bowling", "start_date": "2025-04-01",
            "need_bands": ["low"], "session_hours": {"am": 3}, "capacity_per_session": 1,
            "allows_extras": false, "over_delivery_tolerance_pct": 0, "register_deadline_days": 7,
            "correction_window_days": 28, "payment_period": "weekly",
            "absence_policy": {"chargeable_reasons": [], "min_notice_hours": 24}, "annual_budget_pence": 0
        });
        let (status, errors) = errors_of(from_value::<ContractInput>(v.clone()).unwrap_err());
        assert_eq!(status, 422);
        assert_eq!(errors[0].0, "/service_type");
        assert!(errors[0].1.contains("building_based"), "{}", errors[0].1);
        v["service_type"] = serde_json::json!("community");
        v["session_hours"] = serde_json::json!({"am": 3.1});
        let (_, errors) = errors_of(from_value::<ContractInput>(v).unwrap_err());
        // Map keys that are enums are not tracked by serde_path_to_error: the pointer
        // stops at the map and the detail names the rule.
        assert_eq!(errors[0].0, "/session_hours");
        assert!(errors[0].1.contains("multiple of 0.25"), "{}", errors[0].1);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        date: chrono::NaiveDate,
        limit: Option<u32>,
    }

    #[test]
    fn query_pointers() {
        assert!(parse_query::<Params>("date=2025-01-01&limit=5").is_ok());
        for (query, pointer) in [
            ("date=2025-13-01", "/query/date"),
            ("limit=5", "/query/date"),
            ("date=2025-01-01&limit=x", "/query/limit"),
            ("date=2025-01-01&bogus=1", "/query/bogus"),
        ] {
            let (status, errors) = errors_of(parse_query::<Params>(query).unwrap_err());
            assert_eq!(
                (status, errors[0].0.as_str()),
                (422, pointer),
                "{query}: {errors:?}"
            );
        }
    }
}
