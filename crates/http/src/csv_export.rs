//! `Accept: text/csv` on lists and reports (SPEC §6). A list answered as CSV holds every
//! row the filters match, not one page: it is streamed, a page of rows at a time, each
//! page read by keyset from where the last ended, so memory stays flat however large the
//! export.
//!
//! Each CSV form is also an operation of its own, `GET <list>/export.csv`, whose only
//! answer is CSV: generated clients get one typed 200 per operation. [`export_routes`]
//! answers it by the list's own handler, as if asked with `Accept: text/csv`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;

use dayops_persistence::{DbConnection, Page};

use crate::problem::ApiError;
use crate::{run, AppState};

pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";

/// Rows per page read for a streamed export.
const EXPORT_PAGE: i64 = 500;

/// A row of a CSV export: the same members as the JSON item, nested lists folded into one
/// cell.
pub trait CsvRow {
    fn headers() -> &'static [&'static str];
    fn record(&self) -> Vec<String>;
    /// Columns written exactly as they are, never made inert: machine data such as
    /// base64 hashes, which may begin with `+` and must read back byte for byte.
    fn verbatim() -> &'static [&'static str] {
        &[]
    }
}

/// The path suffix of a list's CSV operation.
pub const EXPORT_SUFFIX: &str = "/export.csv";

/// Middleware: `GET <list>/export.csv`, for a list the document gives a CSV operation, is
/// routed to the list itself with `Accept: text/csv`. It runs before routing, so the
/// list's handler, and everything it checks, answers it.
pub async fn export_routes(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let exported = req.method() == actix_web::http::Method::GET
        && req.path().ends_with(EXPORT_SUFFIX)
        && req
            .app_data::<actix_web::web::Data<AppState>>()
            .is_some_and(|state| state.routes.is_export(req.path()));
    if exported {
        let list = req.path().trim_end_matches(EXPORT_SUFFIX).to_string();
        let target = match req.uri().query() {
            Some(query) => format!("{list}?{query}"),
            None => list,
        };
        if let Ok(uri) = target.parse::<actix_web::http::Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
            req.headers_mut()
                .insert(header::ACCEPT, header::HeaderValue::from_static("text/csv"));
        }
    }
    next.call(req).await
}

/// Whether the client asked for CSV: `text/csv` comes before JSON (or `*/*`) in `Accept`.
pub fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| {
            part.split(';')
                .next()
                .map(|m| m.trim().to_ascii_lowercase())
        })
        .find(|m| matches!(m.as_str(), "text/csv" | "application/json" | "*/*"))
        .is_some_and(|m| m == "text/csv")
}

fn write_rows<T: CsvRow>(rows: &[T], with_headers: bool) -> Result<Bytes, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
    if with_headers {
        writer.write_record(T::headers()).map_err(fail)?;
    }
    let verbatim: Vec<bool> = T::headers()
        .iter()
        .map(|h| T::verbatim().contains(h))
        .collect();
    for row in rows {
        let record = row.record();
        let fields = record.iter().enumerate().map(|(i, field)| {
            if verbatim.get(i).copied().unwrap_or(false) {
                std::borrow::Cow::Borrowed(field.as_str())
            } else {
                inert(field)
            }
        });
        writer
            .write_record(fields.map(std::borrow::Cow::into_owned))
            .map_err(fail)?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))
}

/// A whole (small) result as CSV.
pub fn csv_response<T: CsvRow>(rows: &[T]) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type(CSV_MEDIA_TYPE)
        .body(write_rows(rows, true)?))
}

enum Next {
    From(Option<String>, bool),
    Done,
}

/// Every row `fetch` pages through, from `cursor` on, streamed as CSV. A failure after the
/// first bytes are sent aborts the response, so a client never takes a cut-short export
/// for a whole one.
pub fn stream_csv<T, F>(
    state: actix_web::web::Data<AppState>,
    cursor: Option<String>,
    fetch: F,
) -> HttpResponse
where
    T: CsvRow + Send + 'static,
    F: Fn(&mut DbConnection, Option<&str>, i64) -> Result<Page<T>, ApiError>
        + Clone
        + Send
        + 'static,
{
    let body = stream::unfold(Next::From(cursor, true), move |next| {
        let state = state.clone();
        let fetch = fetch.clone();
        async move {
            let Next::From(cursor, first) = next else {
                return None;
            };
            let page = run(&state, move |conn| {
                fetch(conn, cursor.as_deref(), EXPORT_PAGE)
            })
            .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    log::error!("CSV export stopped: {e}");
                    return Some((Err(e), Next::Done));
                }
            };
            let bytes = write_rows(&page.items, first);
            let next = match page.next_cursor {
                Some(c) => Next::From(Some(c), false),
                None => Next::Done,
            };
            Some((bytes, next))
        }
    });
    HttpResponse::Ok()
        .content_type(CSV_MEDIA_TYPE)
        .streaming(body)
}

/// A cell of a JSON member: text as it is, numbers and booleans written out, nested lists
/// and objects as compact JSON, absent or null empty.
fn json_cell(value: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Items of a reference-data list as CSV: a column per top-level member (in name order),
/// nested terms (a contract's session hours, an agreement's plan) as compact JSON in their
/// cell.
pub fn json_items_csv<T: serde::Serialize>(items: &[T]) -> Result<HttpResponse, ApiError> {
    let mut objects = Vec::with_capacity(items.len());
    for item in items {
        match serde_json::to_value(item) {
            Ok(serde_json::Value::Object(map)) => objects.push(map),
            Ok(_) => return Err(ApiError::Internal("a list item is not an object".into())),
            Err(e) => return Err(ApiError::Internal(format!("writing CSV: {e}"))),
        }
    }
    let mut headers: Vec<String> = Vec::new();
    for object in &objects {
        for key in object.keys() {
            if !headers.contains(key) {
                headers.push(key.clone());
            }
        }
    }
    headers.sort();
    let fail = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&headers).map_err(fail)?;
    for object in &objects {
        writer
            .write_record(
                headers
                    .iter()
                    .map(|h| inert(&json_cell(object.get(h))).into_owned()),
            )
            .map_err(fail)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    Ok(HttpResponse::Ok().content_type(CSV_MEDIA_TYPE).body(body))
}

/// Every item `fetch` pages through, from `cursor` on (for a whole reference-data export).
pub fn all_pages<T>(
    conn: &mut DbConnection,
    mut cursor: Option<String>,
    mut fetch: impl FnMut(&mut DbConnection, Option<&str>, i64) -> Result<Page<T>, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let mut items = Vec::new();
    loop {
        let page = fetch(conn, cursor.as_deref(), EXPORT_PAGE)?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

/// A cell a spreadsheet will not run as a formula (OWASP, "CSV Injection"): text that
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, which
/// spreadsheets show as text. Numbers (a negative variance) are left as they are.
pub fn inert(field: &str) -> std::borrow::Cow<'_, str> {
    let risky = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && field.parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{field}"))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

/// A money or count cell.
pub fn cell(value: impl ToString) -> String {
    value.to_string()
}

/// An optional cell: empty when absent.
pub fn opt_cell(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn verbatim_columns_are_written_as_they_are() {
        struct Row;
        impl CsvRow for Row {
            fn headers() -> &'static [&'static str] {
                &["name", "leaf_hash"]
            }
            fn record(&self) -> Vec<String> {
                vec!["=1+1".into(), "+J2g3K9=".into()]
            }
            fn verbatim() -> &'static [&'static str] {
                &["leaf_hash"]
            }
        }
        let written = write_rows(&[Row], true).unwrap();
        assert_eq!(&written[..], b"name,leaf_hash\n'=1+1,+J2g3K9=\n");
    }

    #[test]
    fn cells_never_start_a_formula() {
        for (field, written) in [
            (
                "=HYPERLINK(\"http://evil\",\"x\")",
                "'=HYPERLINK(\"http://evil\",\"x\")",
            ),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-2+3", "'-2+3"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-1234", "-1234"),
            ("-12.5", "-12.5"),
            ("Riverside", "Riverside"),
            ("", ""),
        ] {
            assert_eq!(inert(field), written, "{field}");
        }
    }

    #[test]
    fn csv_is_asked_for_by_accept() {
        let cases = [
            (Some("text/csv"), true),
            (Some("application/json, text/csv;q=0.9"), false),
            (Some("text/csv, application/json"), true),
            (Some("TEXT/CSV; charset=utf-8"), true),
            (Some("application/json"), false),
            (Some("text/csv-schema"), false),
            (None, false),
        ];
        for (accept, csv) in cases {
            let mut req = TestRequest::default();
            if let Some(a) = accept {
                req = req.insert_header((header::ACCEPT, a));
            }
            assert_eq!(wants_csv(&req.to_http_request()), csv, "{accept:?}");
        }
    }
}
