//! Problem+json for everything that goes wrong before a handler's rules.

use serde_json::json;

use crate::support::TestApp;

#[test]
fn routing_and_body_errors_are_problems() {
    let app = TestApp::spawn_with(|config| config.max_body_bytes = 64 * 1024);
    let c = app.commissioner();

    let r = app.get("/v1/nothing-here", &c);
    r.expect(404);
    let r = app.request("DELETE", "/v1/providers", Some(&c), None);
    r.expect(405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = app.request("PUT", "/v1/contracts/abc", Some(&c), None);
    r.expect(405);
    assert_eq!(r.header("allow"), Some("GET, PATCH"));

    let r = app.request(
        "POST",
        "/v1/providers",
        Some(&c),
        Some(("application/json", b"{\"name\": ".to_vec())),
    );
    r.expect(400);
    let r = app.request(
        "POST",
        "/v1/providers",
        Some(&c),
        Some(("application/json", b"{\"name\": \"x\" \"y\"}".to_vec())),
    );
    r.expect(400);
    let r = app.request(
        "POST",
        "/v1/providers",
        Some(&c),
        Some(("text/plain", b"name=x".to_vec())),
    );
    r.expect(415);
    let r = app.request(
        "POST",
        "/v1/providers",
        Some(&c),
        Some(("application/json", b"{\"name\": 5}".to_vec())),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/name"]);

    // Over the body limit: 413, nothing stored.
    let big = json!({"name": "x".repeat(70 * 1024)})
        .to_string()
        .into_bytes();
    app.request(
        "POST",
        "/v1/providers",
        Some(&c),
        Some(("application/json", big)),
    )
    .expect(413);
    assert_eq!(app.get("/v1/providers", &c).body["items"], json!([]));
}

#[test]
fn default_body_limit_is_sixteen_mebibytes() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-E-1");
    let filler = "a".repeat(200);
    let agreements: Vec<_> = (0..90_000)
        .map(|i| json!({"person_ref": format!("P{i}"), "need_bands": [], "planned_sessions": [], "start_date": "2025-04-01", "pathway": filler}))
        .collect();
    let body = json!({"agreements": agreements}).to_string().into_bytes();
    assert!(body.len() > 16 * 1024 * 1024);
    app.request(
        "PUT",
        &format!("/v1/contracts/{contract}/agreements"),
        Some(&c),
        Some(("application/json", body)),
    )
    .expect(413);
}

#[test]
fn each_principal_has_a_rate_limit() {
    let app = TestApp::spawn_with(|config| config.rate_limit_per_minute = 3);
    let c = app.commissioner();
    for _ in 0..3 {
        app.get("/v1/contracts", &c).expect(200);
    }
    let limited = app.get("/v1/contracts", &c);
    limited.expect(429);
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&retry), "{retry}");
    // Another principal has a bucket of its own; health checks need no token and no bucket.
    app.get("/v1/contracts", &app.auditor()).expect(200);
    for _ in 0..5 {
        app.request("GET", "/healthz", None, None).expect(200);
    }
}
