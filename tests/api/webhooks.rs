//! Webhooks end to end: a local receiver checks every delivery's signature with the
//! Standard Webhooks reference crate; deliveries come in the feed's order, at least once,
//! through a receiver's failures, to their own provider only, and survive a kill -9 of the
//! delivering process; a subscription that fails for too long is disabled and the feed
//! says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{last_week, Fixture, TestApp};

/// A delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verified with the Standard Webhooks crate, not our own code.
    fn verifies_with(&self, secret: &str) -> bool {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::header::HeaderName::from_bytes(name.as_bytes()),
                http::header::HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &headers)
            .is_ok()
    }
}

/// A receiver on 127.0.0.1 that answers 500 to its first `failures` requests and 200 to
/// the rest, recording each.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(failures: usize) -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), failures)
    }

    fn on(listener: TcpListener, failures: usize) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0); // the request line
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        headers.push((name.trim().to_string(), value.trim().to_string()));
                    }
                }
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut all = record.lock().unwrap();
                let answered = if all.len() < failures { 500 } else { 200 };
                all.push(Received {
                    headers,
                    body,
                    answered,
                });
                drop(all);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {answered} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The events delivered with a 200, in the order they came.
    fn delivered(&self) -> Vec<Received> {
        self.seen()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    /// Waits (up to 60 s) until `n` events have been delivered.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        let started = Instant::now();
        while self.delivered().len() < n && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let delivered = self.delivered();
        assert!(delivered.len() >= n, "{} of {n} delivered", delivered.len());
        delivered
    }
}

fn types(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.event()["type"].as_str().unwrap().to_string())
        .collect()
}

fn subscribe(app: &TestApp, token: &str, url: &str) -> (String, String) {
    let r = app.post("/v1/webhook-subscriptions", token, &json!({"url": url}));
    r.expect(201);
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["secret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn deliveries_are_signed_ordered_retried_and_isolated() {
    let app = TestApp::spawn();
    let a = Fixture::new(&app, "WA");
    let b = Fixture::new(&app, "WB");
    // Only https and public targets, unless the council allows the host; auditors do not
    // subscribe.
    for url in [
        "http://example.org/hooks",
        "https://10.1.2.3/hooks",
        "ftp://x/",
    ] {
        let r = app.post("/v1/webhook-subscriptions", &a.token, &json!({"url": url}));
        r.expect(422);
        assert_eq!(r.pointers(), ["/url"]);
    }
    app.post(
        "/v1/webhook-subscriptions",
        &app.auditor(),
        &json!({"url": "https://backoffice.example/hooks"}),
    )
    .expect(403);
    app.sequenced();
    let failing = Receiver::start(3);
    let healthy = Receiver::start(0);
    let (sub_a, secret_a) = subscribe(&app, &a.token, &failing.url());
    let (_, secret_b) = subscribe(&app, &b.token, &healthy.url());
    // A provider sees only its own subscriptions.
    app.get(&format!("/v1/webhook-subscriptions/{sub_a}"), &b.token)
        .expect(404);

    let monday = last_week();
    a.post(&app, &a.register(monday)).expect(201);
    b.post(&app, &b.register(monday)).expect(201);
    let claim = a.submit_drafted_claim(&app, monday);
    app.approve_and_pay(&claim, "BACS-WA-1");

    // Through the receiver's three failures, everything arrives, in order, each signed.
    let delivered = failing.wait_for(4);
    assert_eq!(
        types(&delivered),
        [
            "register.created",
            "claim.created",
            "claim.approved",
            "claim.paid"
        ]
    );
    assert!(failing.seen().iter().all(|r| r.verifies_with(&secret_a)));
    assert!(!delivered[0].verifies_with(&secret_b));
    let paid = delivered[3].event();
    assert_eq!(paid["data"]["payload"]["remittance_ref"], "BACS-WA-1");
    assert_eq!(paid["data"]["object_id"], claim);
    // A retried event keeps its webhook-id.
    let first_id = failing.seen()[0].header("webhook-id").to_string();
    assert_eq!(delivered[0].header("webhook-id"), first_id);
    assert_eq!(delivered[0].header("webhook-id"), paid_id(&delivered[0]));
    // The other provider's receiver hears of its own register only.
    let theirs = healthy.wait_for(1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(types(&healthy.delivered()), ["register.created"]);
    assert_eq!(theirs[0].event()["data"]["provider_id"], b.provider);

    // The delivery log has the failures and the successes; a redelivery comes again
    // with the same webhook-id.
    let log = app.get(
        &format!("/v1/webhook-subscriptions/{sub_a}/deliveries?limit=500"),
        &a.token,
    );
    log.expect(200);
    let attempts = log.body["items"].as_array().unwrap();
    assert_eq!(
        attempts.iter().filter(|d| d["succeeded"] == false).count(),
        3
    );
    assert!(attempts.iter().any(|d| d["status_code"] == 500));
    let oldest_success = attempts
        .iter()
        .rev()
        .find(|d| d["succeeded"] == true)
        .unwrap();
    app.post(
        &format!(
            "/v1/webhook-subscriptions/{sub_a}/deliveries/{}/redeliver",
            oldest_success["id"].as_str().unwrap()
        ),
        &a.token,
        &json!({}),
    )
    .expect(202);
    let again = failing.wait_for(5);
    assert_eq!(again[4].header("webhook-id"), first_id);

    // A rotated secret signs what follows; the old one no longer verifies.
    let rotated = app.post(
        &format!("/v1/webhook-subscriptions/{sub_a}/rotate-secret"),
        &a.token,
        &json!({}),
    );
    rotated.expect(200);
    let new_secret = rotated.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret_a);
    let mut amended = a.register(monday);
    amended["lines"][0]["comment"] = json!("arrived late");
    let id = delivered[0].event()["data"]["object_id"]
        .as_str()
        .unwrap()
        .to_string();
    let etag = app.get(&format!("/v1/registers/{id}"), &a.token);
    app.request_with(
        "PUT",
        &format!("/v1/registers/{id}"),
        Some(&a.token),
        Some(("application/json", amended.to_string().into_bytes())),
        &[("If-Match", etag.header("ETag").unwrap())],
    )
    .expect(200);
    let after = failing.wait_for(6);
    let last = after.last().unwrap();
    assert_eq!(last.event()["type"], "register.amended");
    assert!(last.verifies_with(&new_secret) && !last.verifies_with(&secret_a));

    // Deleted, nothing more is delivered; the list no longer has it.
    app.request(
        "DELETE",
        &format!("/v1/webhook-subscriptions/{sub_a}"),
        Some(&a.token),
        None,
    )
    .expect(204);
    let listed = app.get("/v1/webhook-subscriptions", &a.token);
    listed.expect(200);
    assert!(listed.body["items"].as_array().unwrap().is_empty());
}

/// The feed event id a delivery carries in its body.
fn paid_id(received: &Received) -> String {
    received.event()["data"]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_subscription_failing_for_too_long_is_disabled_and_the_feed_says_so() {
    let app = TestApp::spawn_with(|config| config.webhook_disable_after_secs = 0);
    let fx = Fixture::new(&app, "WD");
    app.sequenced();
    let down = Receiver::start(usize::MAX);
    let (id, _) = subscribe(&app, &fx.token, &down.url());
    fx.post(&app, &fx.register(last_week())).expect(201);
    let started = Instant::now();
    let disabled = loop {
        let r = app.get(&format!("/v1/webhook-subscriptions/{id}"), &fx.token);
        r.expect(200);
        if r.body["status"] == "disabled" || started.elapsed() > Duration::from_secs(30) {
            break r.body;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(disabled["status"], "disabled", "{disabled}");
    assert!(disabled["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("failed"));
    app.sequenced();
    let feed = app.get("/v1/events?types=webhook_subscription.disabled", &fx.token);
    feed.expect(200);
    assert_eq!(feed.body["items"][0]["object_id"], id);
    // Enabled again, it is active with its failures forgotten, and takes up the event it
    // stopped at.
    let enabled = app.post(
        &format!("/v1/webhook-subscriptions/{id}/enable"),
        &fx.token,
        &json!({}),
    );
    enabled.expect(200);
    assert_eq!(enabled.body["status"], "active");
    assert_eq!(enabled.body["failures"], 0);
    let before = down.seen().len();
    let started = Instant::now();
    while down.seen().len() == before && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let retried = down.seen();
    assert!(retried.len() > before, "no delivery after enabling");
    assert_eq!(
        retried.last().unwrap().header("webhook-id"),
        retried[0].header("webhook-id")
    );
}

/// The outbox is written with the change: a delivering process killed (-9) before it
/// could deliver loses nothing; another process delivers every event, in order, once the
/// receiver is there.
#[test]
fn a_kill_between_commit_and_delivery_loses_nothing() {
    let app = TestApp::spawn_with(|config| config.webhooks = false);
    let fx = Fixture::new(&app, "WK");
    app.sequenced();
    // A port with nobody listening yet: every attempt fails until the receiver starts.
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let (_, secret) = subscribe(&app, &fx.token, &format!("http://127.0.0.1:{port}/hooks"));
    let first = app.second_server();
    let monday = last_week();
    fx.post(&app, &fx.register(monday)).expect(201);
    let claim = fx.submit_drafted_claim(&app, monday);
    let c = app.commissioner();
    let decision = json!({"decision": "approve", "reason": "matches the registers"});
    app.post(&format!("/v1/claims/{claim}/decision"), &c, &decision)
        .expect(200);
    app.sequenced();
    std::thread::sleep(Duration::from_millis(300));
    drop(first); // kill -9
    let receiver = Receiver::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), 0);
    let _second = app.second_server();
    let delivered = receiver.wait_for(3);
    assert_eq!(
        types(&delivered),
        ["register.created", "claim.created", "claim.approved"]
    );
    assert!(delivered.iter().all(|r| r.verifies_with(&secret)));
}

/// Two processes deliver from one PostgreSQL database: every event arrives, in order, and
/// an event delivered twice keeps its webhook-id.
#[test]
fn two_processes_share_the_deliveries() {
    let app = TestApp::spawn_with(|config| config.webhooks = false);
    if !app.is_postgres() {
        return; // SQLite is one process on one machine
    }
    let fx = Fixture::new(&app, "WT");
    app.sequenced();
    let receiver = Receiver::start(0);
    let (_, secret) = subscribe(&app, &fx.token, &receiver.url());
    let _one = app.second_server();
    let _two = app.second_server();
    let monday = last_week();
    let mut expected = Vec::new();
    for week in 0..6u64 {
        let start = monday - chrono::Days::new(7 * week);
        fx.post(&app, &fx.register(start)).expect(201);
        expected.push("register.created");
    }
    let delivered = receiver.wait_for(expected.len());
    let mut ids: Vec<String> = delivered.iter().map(paid_id).collect();
    let order = ids.clone();
    ids.dedup();
    assert_eq!(
        ids.len(),
        expected.len(),
        "each event once, or again with its id"
    );
    let seqs: Vec<i64> = delivered
        .iter()
        .map(|r| r.event()["data"]["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?} {order:?}");
    assert!(delivered.iter().all(|r| r.verifies_with(&secret)));
    assert!(delivered
        .iter()
        .all(|r| r.header("webhook-id") == paid_id(r)));
}
