//! Request ids, and logs that carry nothing a client sent.

use serde_json::{json, Value};

use crate::support::{last_week, Fixture, TestApp};

#[test]
fn a_well_formed_request_id_is_kept_and_a_bad_one_replaced() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let kept = app.request_with(
        "GET",
        "/v1/providers/nope",
        Some(&c),
        None,
        &[("X-Request-Id", "trace-4bf92f35:77b3.4da6_a3ce")],
    );
    kept.expect(404);
    assert_eq!(
        kept.header("x-request-id"),
        Some("trace-4bf92f35:77b3.4da6_a3ce")
    );
    assert_eq!(
        kept.body["instance"],
        "urn:dayops:request:trace-4bf92f35:77b3.4da6_a3ce"
    );
    for bad in ["has space", "a/b", "x\"y", &"a".repeat(129)] {
        let r = app.request_with(
            "GET",
            "/v1/providers",
            Some(&c),
            None,
            &[("X-Request-Id", bad)],
        );
        r.expect(200);
        let made = r.header("x-request-id").expect("an id is always answered");
        assert_ne!(made, bad);
        assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    }
    // Without one, each request gets its own.
    let a = app.get("/v1/providers", &c);
    let b = app.get("/v1/providers", &c);
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    // Problems made before a handler runs name the request too (no token: 401).
    let r = app.request("GET", "/v1/providers", None, None);
    r.expect(401);
    assert_eq!(
        r.body["instance"],
        json!(format!(
            "urn:dayops:request:{}",
            r.header("x-request-id").unwrap()
        ))
    );
}

/// A value no log line may ever hold.
const CANARY: &str = "Cnry7Qx";

/// Replaces every `{parameter}` of a path template with the canary.
fn with_canary(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                CANARY.to_string()
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation of the API, called with the canary in its path, query, headers and
/// body, by each role and by a made-up token; and real submissions carrying it as
/// person references, a contract reference and a provider name. A server logging at
/// `trace` writes none of it: the access log names route templates, and errors are
/// logged by kind.
#[test]
fn no_client_value_reaches_the_logs_at_any_level() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = app.second_server_with(&[("RUST_LOG", "trace")], Some(&log));
    let api = &server.app;

    // Real data carrying the canary.
    let fixture = Fixture::new(api, CANARY);
    let monday = last_week();
    let mut register = fixture.register(monday);
    register["lines"][0]["session_type"] = json!(fixture.p1); // a person ref as a session type
    register["lines"][1][CANARY] = json!(CANARY); // an unknown key
    fixture.post(api, &register).expect(422);
    fixture.post(api, &fixture.register(monday)).expect(201);
    api.get(
        &format!(
            "/v1/submissions?contract_id={}&person_ref={}",
            fixture.contract, fixture.p1
        ),
        &api.commissioner(),
    );
    api.get(&format!("/v1/people/{}", fixture.p1), &api.auditor())
        .expect(200);

    let tokens = [
        api.commissioner(),
        api.auditor(),
        fixture.token.clone(),
        format!("{CANARY}.{CANARY}.{CANARY}"),
    ];
    let doc = dayops_http::openapi::document();
    let mut calls = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            let query: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| format!("{}={CANARY}", p["name"].as_str().unwrap()))
                .collect();
            let path = format!("{}?{}", with_canary(template), query.join("&"));
            let body: Value = json!({
                CANARY: CANARY, "person_ref": CANARY, "contract_id": CANARY,
                "name": 7, "lines": [{"person_ref": CANARY, "session_type": CANARY}]
            });
            for token in &tokens {
                let sent = match method.as_str() {
                    "POST" | "PUT" | "PATCH" => {
                        Some(("application/json", body.to_string().into_bytes()))
                    }
                    _ => None,
                };
                let headers = [
                    ("Idempotency-Key", CANARY),
                    ("If-Match", CANARY),
                    ("If-None-Match", CANARY),
                    ("X-Request-Id", "not well formed Cnry7Qx"),
                    ("User-Agent", CANARY),
                    ("Referer", CANARY),
                ];
                if method == "GET" && template.ends_with("/events") {
                    // The feed would wait for events; ask it not to.
                    let path = format!("{}?after={CANARY}&wait=0", with_canary(template));
                    api.request_with(&method, &path, Some(token), None, &headers);
                } else {
                    api.request_with(&method, &path, Some(token), sent, &headers);
                }
                calls += 1;
            }
        }
    }
    // Made-up methods and unknown paths.
    api.request_with(
        "GET",
        &format!("/v1/{CANARY}/x?{CANARY}=1"),
        None,
        None,
        &[],
    );
    api.request_with(
        "DELETE",
        &format!("/v1/registers/{CANARY}"),
        Some(&api.commissioner()),
        None,
        &[],
    );
    drop(server); // the process is killed: its log is complete

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(calls > 200, "{calls} calls");
    // The log was written at trace level and names requests by their ids.
    assert!(
        text.contains("request="),
        "{}",
        &text[..text.len().min(2000)]
    );
    let leaks: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.to_ascii_lowercase()
                .contains(&CANARY.to_ascii_lowercase())
        })
        .take(10)
        .collect();
    assert!(
        leaks.is_empty(),
        "client values in the log:\n{}",
        leaks.join("\n")
    );
}
