//! Health, readiness, metrics, and the OpenAPI contract.

use serde_json::Value;

use crate::support::TestApp;

#[test]
fn health_readiness_and_metrics_need_no_token() {
    let app = TestApp::spawn();
    let r = app.request("GET", "/healthz", None, None);
    r.expect(200);
    let r = app.request("GET", "/readyz", None, None);
    r.expect(200);
    assert_eq!(
        r.body["database"],
        if app.is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        }
    );
    // The built-in bank-holiday calendars run to 2030; a warning starts a year before.
    assert_eq!(r.body["bank_holiday_calendars_end"], "2030-12-31");
    let warned = chrono::Utc::now().date_naive() > "2029-12-31".parse().unwrap();
    assert_eq!(
        r.body["warnings"].as_array().unwrap().len(),
        usize::from(warned)
    );
    app.get("/v1/contracts", &app.commissioner()).expect(200);
    app.request("GET", "/v1/contracts", None, None).expect(401);
    let metrics = app.request("GET", "/metrics", None, None);
    metrics.expect(200);
    assert!(metrics.content_type.starts_with("text/plain"));
    assert!(
        metrics.text.contains(
            r#"dayops_http_requests_total{route="/v1/contracts",method="GET",status="200"} 1"#
        ),
        "{}",
        metrics.text
    );
    assert!(metrics
        .text
        .contains(r#"route="/v1/contracts",method="GET",status="401""#));
    assert!(metrics
        .text
        .contains("dayops_http_request_duration_seconds_bucket"));
}

/// The committed contract is what the code serves. On failure, regenerate it with
/// `cargo run --bin dayops -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_matches_the_served_document() {
    let app = TestApp::spawn();
    let served = app.request("GET", "/openapi.json", None, None);
    served.expect(200);
    let committed: Value = serde_json::from_str(include_str!("../../openapi/openapi.json"))
        .expect("openapi/openapi.json is JSON");
    assert!(
        served.body == committed,
        "openapi/openapi.json is out of date: run `cargo run --bin dayops -- openapi > openapi/openapi.json`"
    );
    assert!(served.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = served.body["paths"].as_object().unwrap();
    for path in [
        "/v1/providers",
        "/v1/contracts/{id}/rates",
        "/v1/contracts/{id}/agreements",
        "/v1/audit-events/verify",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }

    // The browsable UI is served from the binary, with no CDN.
    let ui = app.request("GET", "/docs/", None, None);
    ui.expect(200);
    assert!(
        ui.text.contains("swagger-ui"),
        "{}",
        &ui.text[..ui.text.len().min(500)]
    );
    assert!(
        !ui.text.contains("cdn."),
        "the UI must not load scripts from a CDN"
    );
    let script = app.request("GET", "/docs/swagger-ui-bundle.js", None, None);
    script.expect(200);
}
