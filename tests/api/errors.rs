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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gzip body is read as what it decodes to, within the same limit; another encoding
/// is 415 naming the header, and broken gzip 400. Nothing is stored from a refusal.
#[test]
fn gzip_bodies_are_decoded_within_the_limit() {
    let app = TestApp::spawn_with(|config| config.max_body_bytes = 64 * 1024);
    let c = app.commissioner();
    let send = |body: Vec<u8>, encoding: &str| {
        app.request_with(
            "POST",
            "/v1/providers",
            Some(&c),
            Some(("application/json", body)),
            &[("Content-Encoding", encoding)],
        )
    };
    let provider = json!({"name": "Zipped Ltd", "cqc_location_id": "1-101"}).to_string();
    let r = send(gzip(provider.as_bytes()), "gzip");
    r.expect(201);
    assert_eq!(r.body["name"], "Zipped Ltd");
    // Small on the wire, over the limit unpacked: refused without unpacking the rest.
    let padded = format!("{{\"name\": \"Bomb\"{}}}", " ".repeat(10 * 1024 * 1024));
    let bomb = gzip(padded.as_bytes());
    assert!(bomb.len() < 64 * 1024);
    send(bomb, "gzip").expect(413);
    let r = send(provider.clone().into_bytes(), "br");
    r.expect(415);
    assert_eq!(r.pointers(), ["/headers/Content-Encoding"]);
    send(b"not gzip at all".to_vec(), "gzip").expect(400);
    send(provider.into_bytes(), "identity").expect(201);
    let names: Vec<_> = app.get("/v1/providers", &c).body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("Zipped Ltd"), json!("Zipped Ltd")]);
}

/// Sends `head` and then `body` a byte at a time every `gap`, and reads what the
/// server answers until it closes the connection (or 10 s pass).
fn slow_request(base: &str, head: &str, body: &[u8], gap: std::time::Duration) -> (String, bool) {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let body = body.to_vec();
        std::thread::spawn(move || {
            for byte in body {
                std::thread::sleep(gap);
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
            }
        })
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let closed = stream.read_to_end(&mut answer).is_ok();
    drop(writer);
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

/// A body that never comes, or comes a byte at a time, is answered 408 once the body
/// timeout passes, and the connection is closed: it cannot hold a worker for ever.
#[test]
fn slow_bodies_time_out_and_close_the_connection() {
    let app = TestApp::spawn_with(|config| config.body_timeout_secs = 1);
    let c = app.commissioner();
    let head = |length: usize| {
        format!(
            "POST /v1/providers HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {c}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    let started = std::time::Instant::now();
    // Headers, then nothing.
    let (answer, closed) = slow_request(&app.base, &head(40), b"", std::time::Duration::ZERO);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("/problems/request-timeout"), "{answer}");
    assert!(closed, "the connection is closed");
    // A byte every 300 ms of a 40-byte body.
    let body = json!({"name": "Slow Ltd", "cqc_location_id": null}).to_string();
    let (answer, closed) = slow_request(
        &app.base,
        &head(body.len()),
        body.as_bytes(),
        std::time::Duration::from_millis(300),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed);
    assert!(started.elapsed() < std::time::Duration::from_secs(9));
    assert_eq!(app.get("/v1/providers", &c).body["items"], json!([]));
}

/// Browsers may call the API from the allowed origins only: preflights are answered
/// with what may be sent, responses expose the headers a client acts on, and another
/// origin is refused (as problem+json) without those headers.
#[test]
fn cors_allows_the_configured_origins_only() {
    let portal = "https://portal.council.example";
    let app = TestApp::spawn_with(|config| config.cors_origins = vec![portal.to_string()]);
    let c = app.commissioner();
    let preflight = |origin: &str| {
        app.request_with(
            "OPTIONS",
            "/v1/providers",
            None,
            None,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "PATCH"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type, if-match",
                ),
            ],
        )
    };
    let allowed = preflight(portal);
    assert!(allowed.status < 300, "{}", allowed.text);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(portal));
    assert!(allowed
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PATCH"));
    let r = app.request_with(
        "GET",
        "/v1/providers",
        Some(&c),
        None,
        &[("Origin", portal)],
    );
    r.expect(200);
    assert_eq!(r.header("access-control-allow-origin"), Some(portal));
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "etag",
        "location",
        "retry-after",
        "x-request-id",
        "audit-event-id",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
    for stranger in ["https://evil.example", "null"] {
        let refused = preflight(stranger);
        assert!(refused.status >= 400);
        assert_eq!(refused.header("access-control-allow-origin"), None);
        let r = app.request_with(
            "GET",
            "/v1/providers",
            Some(&c),
            None,
            &[("Origin", stranger)],
        );
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
    // Without DAYOPS_CORS_ORIGINS no origin is allowed.
    let closed = TestApp::spawn();
    let r = closed.request_with(
        "GET",
        "/v1/providers",
        Some(&closed.commissioner()),
        None,
        &[("Origin", portal)],
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
}

/// A head too large to read (a 140 KB token) is answered with problem+json too, not
/// actix-http's bare 431, and the connection is closed.
#[test]
fn oversized_headers_are_a_problem() {
    use std::io::{Read, Write};
    let app = TestApp::spawn();
    let mut stream = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    let head = format!(
        "GET /v1/providers HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\r\n",
        "a".repeat(140 * 1024)
    );
    // The server stops reading at its limit: the rest of the head may not be taken.
    let _ = stream.write_all(head.as_bytes());
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 431"), "{answer}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("a request id");
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["type"], "/problems/header-too-large");
    assert_eq!(problem["status"], 431);
    assert_eq!(
        problem["instance"],
        json!(format!("urn:dayops:request:{id}"))
    );
    // The service goes on answering.
    app.get("/v1/providers", &app.commissioner()).expect(200);
}
