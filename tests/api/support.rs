//! The end-to-end harness: a real `dayops` server on port 0 with a database of its own,
//! SQLite by default, PostgreSQL when `DAYOPS_TEST_POSTGRES_URL` names a server (a fresh
//! database is created for each test and dropped afterwards).

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use dayops_domain::types::Role;
use dayops_http::auth::{mint, TokenClaims};
use dayops_server::config::{JwtKey, Secret};
use dayops_server::{open_database, start, Config};

pub const SECRET: &str = "end-to-end-test-secret-0123456789abcdef";
pub const ISSUER: &str = "dayops";
pub const AUDIENCE: &str = "dayops-api";

enum TestDb {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another server's database: dropped by that server, not this one.
    Shared,
}

pub struct TestApp {
    pub base: String,
    pub database_url: String,
    /// The audit log's signing key file (made by the server on first start).
    pub log_key: String,
    _key_dir: Option<tempfile::TempDir>,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
    db: TestDb,
    agent: ureq::Agent,
}

/// A `dayops serve` child process, killed when dropped. It answers the same requests as
/// a `TestApp` through `base`.
pub struct ServeProcess {
    child: std::process::Child,
    pub app: TestApp,
}

impl ServeProcess {
    fn start(database_url: &str, log_key: &str) -> ServeProcess {
        Self::start_with(database_url, log_key, &[], None)
    }

    /// A process with `env` set over the defaults, writing its log (standard error) to
    /// `log` when given.
    fn start_with(
        database_url: &str,
        log_key: &str,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> ServeProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("address")
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dayops"))
            .arg("serve")
            .env("DAYOPS_DATABASE_URL", database_url)
            .env("DAYOPS_BIND", format!("127.0.0.1:{port}"))
            .env("DAYOPS_JWT_SECRET", SECRET)
            .env("DAYOPS_JWT_ISSUER", ISSUER)
            .env("DAYOPS_JWT_AUDIENCE", AUDIENCE)
            .env("DAYOPS_WORKERS", "2")
            .env("DAYOPS_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
            .env("DAYOPS_WEBHOOK_RETRY_SECONDS", "0")
            .env("DAYOPS_WEBHOOK_TIMEOUT_SECONDS", "1")
            .env("DAYOPS_LOG_SIGNING_KEY", log_key)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(match log {
                Some(path) => std::fs::File::create(path).expect("log file").into(),
                None => std::process::Stdio::inherit(),
            })
            .spawn()
            .expect("start dayops serve");
        // Owned from here on, so the child is killed and reaped whatever happens next.
        let process = ServeProcess {
            child,
            app: TestApp {
                base: format!("http://127.0.0.1:{port}"),
                database_url: database_url.to_string(),
                log_key: log_key.to_string(),
                _key_dir: None,
                handle: None,
                thread: None,
                db: TestDb::Shared,
                agent: ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(300))
                    .build(),
            },
        };
        let ready = (0..100).any(|_| {
            let up = process
                .app
                .agent
                .get(&format!("{}/readyz", process.app.base))
                .call()
                .is_ok();
            if !up {
                std::thread::sleep(Duration::from_millis(100));
            }
            up
        });
        assert!(ready, "dayops serve did not become ready");
        process
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = without_query.find("://").map_or(0, |i| i + 3);
    let base = match without_query[authority_start..].find('/') {
        Some(slash) => &without_query[..authority_start + slash],
        None => without_query,
    };
    format!("{base}/{name}{query}")
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("DAYOPS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestApp {
    pub fn spawn() -> TestApp {
        Self::spawn_with(|_| {})
    }

    pub fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let (db, database_url) = Self::new_database();
        Self::serve(db, database_url, adjust)
    }

    /// A server on a database that an earlier release left: the first `migrations`
    /// migrations applied, then `before` writes what that release wrote. Serving it
    /// applies the rest, as an upgrade does.
    pub fn upgraded_from(
        migrations: usize,
        before: impl FnOnce(&mut dayops_persistence::DbConnection),
    ) -> TestApp {
        let (db, database_url) = Self::new_database();
        let mut conn = dayops_persistence::establish(&database_url).expect("connect");
        dayops_persistence::run_first_migrations(&mut conn, migrations)
            .expect("the earlier release's migrations");
        before(&mut conn);
        drop(conn);
        Self::serve(db, database_url, |_| {})
    }

    /// A second `dayops serve` process on this server's database.
    pub fn second_server(&self) -> ServeProcess {
        ServeProcess::start(&self.database_url, &self.log_key)
    }

    /// A second `dayops serve` process with `env` set, logging to `log`.
    pub fn second_server_with(
        &self,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> ServeProcess {
        ServeProcess::start_with(&self.database_url, &self.log_key, env, log)
    }

    fn new_database() -> (TestDb, String) {
        // SQLite as the binary runs it (multi-thread mode), set before its first use.
        dayops_server::sqlite::configure();
        match postgres_admin_url() {
            Some(admin_url) => {
                let name = format!("dayops_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin =
                    dayops_persistence::establish(&admin_url).expect("connect to PostgreSQL");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let url = with_database(&admin_url, &name);
                (TestDb::Postgres { admin_url, name }, url)
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("dayops.db").to_string_lossy().into_owned();
                (TestDb::Sqlite(dir), url)
            }
        }
    }

    fn serve(db: TestDb, database_url: String, adjust: impl FnOnce(&mut Config)) -> TestApp {
        // Server logs go to the test's captured output (RUST_LOG to choose the level).
        let _ = env_logger::builder().is_test(true).try_init();
        let key_dir = tempfile::tempdir().expect("temp dir for the log key");
        let log_key = key_dir
            .path()
            .join("log.key")
            .to_string_lossy()
            .into_owned();
        let mut config = Config {
            database_url: database_url.clone(),
            bind: "127.0.0.1:0".into(),
            jwt_key: Some(JwtKey::Secret(Secret(SECRET.as_bytes().to_vec()))),
            jwt_issuer: ISSUER.into(),
            jwt_audience: AUDIENCE.into(),
            jwt_role_claim: "role".into(),
            jwt_role_values: String::new(),
            jwt_provider_claim: "provider_id".into(),
            jwt_keys_min_refresh_secs: 30,
            max_body_bytes: 16 * 1024 * 1024,
            body_timeout_secs: 30,
            pool_size: 8,
            workers: 2,
            rate_limit_per_minute: 0,
            log_key_path: log_key.clone(),
            log_origin: "test.dayops.local/audit".into(),
            checkpoint_interval_secs: 60,
            sequencer: true,
            webhooks: true,
            webhook_allow_hosts: "127.0.0.1".into(),
            webhook_timeout_secs: 2,
            webhook_retry_secs: 0,
            webhook_disable_after_secs: 259_200,
            cors_origins: Vec::new(),
        };
        adjust(&mut config);
        let pool = open_database(&config).expect("open and migrate the test database");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local address").port();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = start(&config, pool, listener).expect("start server");
                tx.send(server.handle())
                    .expect("hand over the server handle");
                server.await.expect("server ran");
            });
        });
        let handle = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            database_url,
            log_key,
            _key_dir: Some(key_dir),
            handle: Some(handle),
            thread: Some(thread),
            db,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(300))
                .build(),
        }
    }

    /// Empties `table` and fills it again with the statement of migration `migration`
    /// that filled it from the rows stored before it (from `INSERT INTO <table>` to the
    /// end of its `up.sql`): the migration's backfill, run on this database.
    pub fn refill_as_migrated(&self, migration: &str, table: &str) {
        use diesel::connection::SimpleConnection;
        let backend = if self.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        let up = std::fs::read_to_string(format!(
            "{}/../../migrations/{backend}/{migration}/up.sql",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the migration");
        let fill = &up[up
            .find(&format!("INSERT INTO {table}"))
            .expect("its backfill")..];
        let mut conn = self.sql();
        conn.batch_execute(&format!("DELETE FROM {table}"))
            .expect("empty the table");
        conn.batch_execute(fill).expect("the backfill");
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, TestDb::Postgres { .. })
    }

    /// A direct connection to the test database, for tests that go around the API.
    /// Runs the `dayops` binary against this app's database.
    pub fn dayops(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_dayops"))
            .args(args)
            .env("DAYOPS_DATABASE_URL", &self.database_url)
            .env("DAYOPS_LOG_SIGNING_KEY", &self.log_key)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run dayops")
    }

    pub fn sql(&self) -> dayops_persistence::DbConnection {
        dayops_persistence::establish(&self.database_url).expect("connect to the test database")
    }

    pub fn token(&self, role: Role, provider_id: Option<&str>) -> String {
        let now = u64::try_from(chrono::Utc::now().timestamp()).expect("clock after 1970");
        mint(
            &TokenClaims {
                sub: format!("{role}-user"),
                role,
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                exp: now + 600,
                iat: now,
                provider_id: provider_id.map(str::to_string),
            },
            SECRET.as_bytes(),
        )
        .expect("mint token")
    }

    pub fn commissioner(&self) -> String {
        self.token(Role::Commissioner, None)
    }

    pub fn auditor(&self) -> String {
        self.token(Role::Auditor, None)
    }

    pub fn provider(&self, provider_id: &str) -> String {
        self.token(Role::Provider, Some(provider_id))
    }

    /// Sequences every recorded audit event now and signs a checkpoint (the sequencer
    /// would within a moment); returns the checkpoint. Tests that read the log call this
    /// first, as an auditor would before an inspection.
    pub fn sequenced(&self) -> Value {
        let r = self.post("/v1/audit/checkpoint", &self.auditor(), &json!({}));
        r.expect(200);
        r.body
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        self.request_with(method, path, token, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match &body {
            Some((content_type, bytes)) => {
                request.set("Content-Type", content_type).send_bytes(bytes)
            }
            None => request.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: transport error {e}"),
        };
        let sent = body
            .as_ref()
            .map(|(media, bytes)| (*media, bytes.as_slice()));
        Resp::read(response, method, path, sent)
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.request("GET", path, Some(token), None)
    }

    pub fn send_json(&self, method: &str, path: &str, token: &str, body: &Value) -> Resp {
        self.request(
            method,
            path,
            Some(token),
            Some(("application/json", body.to_string().into_bytes())),
        )
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json("POST", path, token, body)
    }

    pub fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json("PUT", path, token, body)
    }

    /// A merge patch as a careful client sends it: with `If-Match` naming the ETag the
    /// resource has now (a made-up one when it cannot be read).
    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        let read = self.get(path, token);
        let etag = read
            .header("etag")
            .unwrap_or("\"00000000000000000000000000000000\"")
            .to_string();
        let tagged = read.status == 200 && read.header("etag").is_some();
        let unread = read.status != 200;
        let if_match = (tagged || unread).then_some(etag);
        self.patch_with(path, token, body, if_match.as_deref())
    }

    /// A merge patch with the given `If-Match`, or none.
    pub fn patch_with(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Resp {
        let headers: Vec<(&str, &str)> = if_match.map(|e| ("If-Match", e)).into_iter().collect();
        self.request_with(
            "PATCH",
            path,
            Some(token),
            Some((
                "application/merge-patch+json",
                body.to_string().into_bytes(),
            )),
            &headers,
        )
    }

    /// The council approves claim `id`, then pays it under `remittance_ref`.
    pub fn approve_and_pay(&self, id: &str, remittance_ref: &str) {
        let c = self.commissioner();
        let decision = json!({"decision": "approve", "reason": "matches the registers"});
        self.post(&format!("/v1/claims/{id}/decision"), &c, &decision)
            .expect(200);
        let payment = json!({"remittance_ref": remittance_ref, "paid_on": "2026-11-30"});
        self.post(&format!("/v1/claims/{id}/payment"), &c, &payment)
            .expect(200);
    }

    // Reference data every test needs.

    pub fn create_provider(&self, name: &str) -> String {
        let r = self.post(
            "/v1/providers",
            &self.commissioner(),
            &json!({"name": name}),
        );
        r.expect(201);
        r.body["id"].as_str().expect("provider id").to_string()
    }

    pub fn create_contract(&self, provider_id: &str, reference: &str) -> String {
        let r = self.post(
            "/v1/contracts",
            &self.commissioner(),
            &contract_body(provider_id, reference),
        );
        r.expect(201);
        r.body["id"].as_str().expect("contract id").to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            actix_web::rt::System::new().block_on(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let TestDb::Postgres { admin_url, name } = &self.db {
            if let Ok(mut admin) = dayops_persistence::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub text: String,
    /// The body as received (for binary answers such as spreadsheets).
    pub bytes: Vec<u8>,
    pub body: Value,
}

impl Resp {
    /// The records of a CSV answer (its header row apart).
    pub fn csv_records(&self) -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(self.bytes.as_slice())
            .records()
            .map(|r| r.expect("a CSV record"))
            .collect()
    }

    fn read(
        response: ureq::Response,
        method: &str,
        path: &str,
        sent: Option<(&str, &[u8])>,
    ) -> Resp {
        let status = response.status();
        let content_type = response.header("content-type").unwrap_or("").to_string();
        let headers: Vec<(String, String)> = response
            .headers_names()
            .into_iter()
            .map(|name| {
                let value = response.header(&name).unwrap_or("").to_string();
                (name, value)
            })
            .collect();
        let mut bytes = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut bytes)
            .expect("read body");
        crate::conformance::check(method, path, status, &headers, &bytes);
        crate::conformance::record_examples(method, path, status, &headers, &bytes, sent);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let resp = Resp {
            status,
            content_type,
            headers,
            text,
            bytes,
            body,
        };
        if status >= 400 && method != "HEAD" {
            resp.assert_problem(method, path);
        }
        resp
    }

    /// Every error answer is RFC 9457 problem+json with the members the spec names.
    fn assert_problem(&self, method: &str, path: &str) {
        let context = format!("{method} {path} -> {}: {}", self.status, self.text);
        assert_eq!(self.content_type, "application/problem+json", "{context}");
        assert!(self.body["type"].is_string(), "type: {context}");
        assert!(self.body["title"].is_string(), "title: {context}");
        assert_eq!(self.body["status"], json!(self.status), "status: {context}");
        assert!(self.body["detail"].is_string(), "detail: {context}");
        // The problem names its request, as the response header and the logs do.
        let request_id = self.header("x-request-id").unwrap_or_default();
        assert_eq!(
            self.body["instance"],
            json!(format!("urn:dayops:request:{request_id}")),
            "instance: {context}"
        );
        if let Some(errors) = self.body.get("errors") {
            let errors = errors.as_array().expect("errors is an array");
            assert!(!errors.is_empty(), "{context}");
            for e in errors {
                assert!(
                    e["pointer"].is_string() && e["detail"].is_string(),
                    "{context}"
                );
            }
        }
    }

    /// The problem without its `instance`, which names each request: for comparing the
    /// answers of two requests.
    pub fn problem(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(members) = body.as_object_mut() {
            members.remove("instance");
        }
        body
    }

    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The pointers of the problem's `errors`.
    pub fn pointers(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["pointer"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn contract_body(provider_id: &str, reference: &str) -> Value {
    json!({
        "reference": reference,
        "provider_id": provider_id,
        "service_type": "building_based",
        "start_date": "2025-04-01",
        "need_bands": ["low", "medium", "high", "complex"],
        "session_hours": {"am": 3, "pm": 3, "full_day": 6},
        "capacity_per_session": 20,
        "allows_extras": true,
        "over_delivery_tolerance_pct": 10,
        "register_deadline_days": 7,
        "correction_window_days": 56,
        "payment_period": "weekly",
        "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24},
        "bank_holidays": ["2025-12-25"],
        "annual_budget_pence": 100_000_000
    })
}

pub fn agreement_body(person_ref: &str) -> Value {
    json!({
        "person_ref": person_ref,
        "need_bands": [{"from": "2025-04-01", "band": "medium"}],
        "planned_sessions": [{"weekday": "monday", "session_type": "am"}],
        "start_date": "2025-04-01",
        "pathway": "therapeutic"
    })
}

/// The Monday of the last complete week: a register for it is due and not late.
pub fn last_week() -> chrono::NaiveDate {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()) + 7)
}

pub fn day(monday: chrono::NaiveDate, offset: u64) -> String {
    (monday + chrono::Days::new(offset)).to_string()
}

/// A provider, a contract with a matrix, and two people: P1 planned Monday am and
/// Wednesday full day, P2 planned Tuesday pm. Person references carry `tag` so that
/// fixtures in one test do not share people.
pub struct Fixture {
    pub provider: String,
    pub contract: String,
    pub p1: String,
    pub p2: String,
    pub token: String,
}

impl Fixture {
    pub fn new(app: &TestApp, tag: &str) -> Fixture {
        let provider = app.create_provider(&format!("Provider {tag}"));
        Self::for_provider(app, &provider, tag)
    }

    pub fn for_provider(app: &TestApp, provider: &str, tag: &str) -> Fixture {
        Self::build(app, provider, tag, None)
    }

    /// A fixture whose matrix has `cells` instead of the default prices.
    pub fn with_cells(app: &TestApp, tag: &str, cells: Vec<Value>) -> Fixture {
        let provider = app.create_provider(&format!("Provider {tag}"));
        Self::build(app, &provider, tag, Some(cells))
    }

    fn build(
        app: &TestApp,
        provider: &str,
        tag: &str,
        custom_cells: Option<Vec<Value>>,
    ) -> Fixture {
        let c = app.commissioner();
        let mut body = contract_body(provider, &format!("NCC-R-{tag}"));
        body["start_date"] = json!("2025-01-06");
        let contract = {
            let r = app.post("/v1/contracts", &c, &body);
            r.expect(201);
            r.body["id"].as_str().expect("id").to_string()
        };
        let mut cells: Vec<Value> = ["am", "pm", "full_day"]
            .iter()
            .map(|st| json!({"item": "session", "need_band": "*", "session_type": st, "day_category": "any", "rate_pence": 5000}))
            .collect();
        cells.push(json!({"item": "session", "need_band": "high", "session_type": "am", "day_category": "any", "rate_pence": 6500}));
        for (item, pence) in [
            ("one_to_one_hour", 1800),
            ("transport_journey", 850),
            ("meal", 450),
        ] {
            cells.push(
                json!({"item": item, "need_band": "*", "day_category": "any", "rate_pence": pence}),
            );
        }
        let cells = custom_cells.unwrap_or(cells);
        app.post(
            &format!("/v1/contracts/{contract}/rate-matrices"),
            &c,
            &json!({"effective_from": "2025-01-06", "cells": cells}),
        )
        .expect(201);
        let p1 = format!("{tag}P1");
        let p2 = format!("{tag}P2");
        let agreement = |person: &str, planned: Value| {
            json!({
                "person_ref": person,
                "need_bands": [{"from": "2025-01-06", "band": "medium"}],
                "planned_sessions": planned,
                "one_to_one_hours_per_week": 2.0,
                "transport_journeys_per_week": 4,
                "start_date": "2025-01-06",
                "pathway": "therapeutic"
            })
        };
        app.put(
            &format!("/v1/contracts/{contract}/agreements"),
            &c,
            &json!({"agreements": [
                agreement(&p1, json!([{"weekday": "monday", "session_type": "am"}, {"weekday": "wednesday", "session_type": "full_day"}])),
                agreement(&p2, json!([{"weekday": "tuesday", "session_type": "pm"}])),
            ]}),
        )
        .expect(200);
        Fixture {
            token: app.provider(provider),
            provider: provider.to_string(),
            contract,
            p1,
            p2,
        }
    }

    /// The agreement of `person` as the nightly export would send it again.
    pub fn agreement_terms(&self, app: &TestApp, person: &str) -> Value {
        let listed = app.get(
            &format!("/v1/contracts/{}/agreements", self.contract),
            &app.commissioner(),
        );
        let mut terms = listed.body["items"]
            .as_array()
            .expect("agreements")
            .iter()
            .find(|a| a["person_ref"] == person)
            .expect("the person's agreement")
            .clone();
        for member in [
            "id",
            "contract_id",
            "content_sha256",
            "created_at",
            "updated_at",
        ] {
            terms.as_object_mut().expect("an agreement").remove(member);
        }
        terms
    }

    /// Upserts `agreements` on the fixture's contract.
    pub fn replace_agreements(&self, app: &TestApp, agreements: Vec<Value>) {
        app.put(
            &format!("/v1/contracts/{}/agreements", self.contract),
            &app.commissioner(),
            &json!({"agreements": agreements}),
        )
        .expect(200);
    }

    /// A clean register for the week starting `monday`.
    pub fn register(&self, monday: chrono::NaiveDate) -> Value {
        json!({
            "contract_id": self.contract,
            "period_start": monday.to_string(),
            "period_end": day(monday, 6),
            "lines": [
                {"person_ref": self.p1, "date": day(monday, 0), "session_type": "am", "status": "attended", "outcome_tags": ["wellbeing"]},
                {"person_ref": self.p1, "date": day(monday, 2), "session_type": "full_day", "status": "attended",
                 "one_to_one_hours": 2.0, "transport_journeys": 2, "meal": true},
                {"person_ref": self.p2, "date": day(monday, 1), "session_type": "pm", "status": "attended", "community_access": true}
            ]
        })
    }

    /// The claim drafted from the week's registers, submitted unchanged; its id.
    pub fn submit_drafted_claim(&self, app: &TestApp, monday: chrono::NaiveDate) -> String {
        let draft = app.request(
            "POST",
            &format!(
                "/v1/claims/draft?contract_id={}&period_start={monday}",
                self.contract
            ),
            Some(&self.token),
            None,
        );
        draft.expect(200);
        let r = app.request_with(
            "POST",
            "/v1/claims",
            Some(&self.token),
            Some(("application/json", draft.body.to_string().into_bytes())),
            &[("Idempotency-Key", &uuid::Uuid::new_v4().to_string())],
        );
        r.expect(201);
        r.body["id"].as_str().expect("claim id").to_string()
    }

    pub fn post(&self, app: &TestApp, body: &Value) -> Resp {
        let key = uuid::Uuid::new_v4().to_string();
        self.post_keyed(app, body, &key)
    }

    pub fn post_keyed(&self, app: &TestApp, body: &Value, key: &str) -> Resp {
        app.request_with(
            "POST",
            "/v1/registers",
            Some(&self.token),
            Some(("application/json", body.to_string().into_bytes())),
            &[("Idempotency-Key", key)],
        )
    }
}

/// (code, severity, pointer) of a receipt's findings.
pub fn findings(resp: &Resp) -> Vec<(String, String, String)> {
    resp.body["validation"]["findings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| {
                    (
                        f["code"].as_str().unwrap_or("").to_string(),
                        f["severity"].as_str().unwrap_or("").to_string(),
                        f["pointer"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
