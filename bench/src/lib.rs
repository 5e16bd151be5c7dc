//! What the benchmarks share: a real server in-process on a fresh database, tokens, and
//! a JSON client.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::connection::{LoadConnection, SimpleConnection};
use diesel::row::{Field, Row};
use diesel::sqlite::SqliteType;
use serde_json::Value;

use dayops_domain::types::Role;
use dayops_http::auth::{mint, TokenClaims};
use dayops_persistence::DbConnection;
use dayops_server::config::{JwtKey, Secret};
use dayops_server::{open_database, start, Config};

const SECRET: &str = "bench-secret-bench-secret-0123456789abcdef";

/// A server on its own database, stopped (and the database dropped) on `finish`.
pub struct Bench {
    pub base: String,
    pub database_url: String,
    pub backend: &'static str,
    pub agent: ureq::Agent,
    server: Server,
    cleanup: Option<(String, String)>,
    dir: tempfile::TempDir,
}

/// Where the server under test runs.
enum Server {
    InProcess(ServerHandle),
    /// A `dayops serve` process of its own, so that its memory is measured alone.
    Child(std::process::Child),
}

impl Bench {
    /// SQLite in a temporary folder, or a fresh database on the PostgreSQL server `postgres`,
    /// the server in this process with the allocators' options `dayops` sets. Call it
    /// before starting threads of your own.
    pub fn start(postgres: Option<&str>) -> Bench {
        dayops_server::allocators::tune();
        dayops_server::sqlite::configure();
        Self::start_with(postgres, false)
    }

    /// The same with the server as a `dayops serve` process of its own (the release
    /// binary beside this one: `cargo build --release --bin dayops` first).
    pub fn start_process(postgres: Option<&str>) -> Bench {
        Self::start_with(postgres, true)
    }

    /// The server process's id, when it runs apart.
    pub fn server_pid(&self) -> Option<u32> {
        match &self.server {
            Server::Child(child) => Some(child.id()),
            Server::InProcess(_) => None,
        }
    }

    fn start_with(postgres: Option<&str>, separate: bool) -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, cleanup) = match postgres {
            Some(admin) => {
                let name = format!("dayops_bench_{}", uuid::Uuid::new_v4().simple());
                dayops_persistence::establish(admin)
                    .unwrap()
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let base = &admin[..admin.rfind('/').unwrap()];
                (format!("{base}/{name}"), Some((admin.to_string(), name)))
            }
            None => (
                dir.path().join("bench.db").to_string_lossy().into_owned(),
                None,
            ),
        };
        let config = Config {
            database_url: database_url.clone(),
            bind: "127.0.0.1:0".into(),
            jwt_key: Some(JwtKey::Secret(Secret(SECRET.as_bytes().to_vec()))),
            jwt_issuer: "dayops".into(),
            jwt_audience: "dayops-api".into(),
            jwt_role_claim: "role".into(),
            jwt_role_values: String::new(),
            jwt_provider_claim: "provider_id".into(),
            jwt_keys_min_refresh_secs: 30,
            max_body_bytes: 64 * 1024 * 1024,
            body_timeout_secs: 300,
            pool_size: 16,
            workers: 2,
            rate_limit_per_minute: 0,
            log_key_path: dir.path().join("log.key").to_string_lossy().into_owned(),
            log_origin: "bench.dayops.local/audit".into(),
            checkpoint_interval_secs: 60,
            sequencer: true,
            webhooks: true,
            webhook_allow_hosts: "127.0.0.1".into(),
            webhook_timeout_secs: 5,
            webhook_retry_secs: 1,
            webhook_disable_after_secs: 259_200,
            cors_origins: Vec::new(),
        };
        if separate {
            let exe = std::env::current_exe().unwrap().with_file_name("dayops");
            assert!(
                exe.exists(),
                "{} is missing: cargo build --release --bin dayops",
                exe.display()
            );
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new(exe)
                .arg("serve")
                .env("DAYOPS_DATABASE_URL", &database_url)
                .env("DAYOPS_BIND", format!("127.0.0.1:{port}"))
                .env("DAYOPS_JWT_SECRET", SECRET)
                .env("DAYOPS_MAX_BODY_BYTES", (64 * 1024 * 1024).to_string())
                .env("DAYOPS_RATE_LIMIT_PER_MINUTE", "0")
                .env("DAYOPS_WORKERS", "2")
                .env("DAYOPS_LOG_SIGNING_KEY", &config.log_key_path)
                .env("RUST_LOG", "warn")
                .spawn()
                .expect("start dayops serve");
            let base = format!("http://127.0.0.1:{port}");
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(600))
                .build();
            let up = (0..200).any(|_| {
                let ok = agent.get(&format!("{base}/readyz")).call().is_ok();
                if !ok {
                    std::thread::sleep(Duration::from_millis(50));
                }
                ok
            });
            assert!(up, "dayops serve did not start");
            return Bench {
                backend: dayops_persistence::Backend::of_url(&database_url).name(),
                server: Server::Child(child),
                agent,
                base,
                database_url,
                cleanup,
                dir,
            };
        }
        let pool = open_database(&config).expect("database");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = start(&config, pool, listener).unwrap();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            })
        });
        Bench {
            backend: dayops_persistence::Backend::of_url(&database_url).name(),
            server: Server::InProcess(rx.recv().unwrap()),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(600))
                .build(),
            base,
            database_url,
            cleanup,
            dir,
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {token}"));
        if let Some(key) = key {
            request = request.set("Idempotency-Key", key);
        }
        let result = match body {
            Some(body) => request
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
            None => request.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        (status, response.into_json().unwrap_or(Value::Null))
    }

    /// Stops the server and drops the database, unless `DAYOPS_BENCH_KEEP_DB` is set:
    /// then the database (or SQLite's file) is left for timing statements by hand, and
    /// its location printed.
    pub fn finish(self) {
        let keep = std::env::var("DAYOPS_BENCH_KEEP_DB").is_ok();
        if keep {
            eprintln!("database kept: {}", self.database_url);
            let _ = self.dir.keep();
        }
        match self.server {
            Server::InProcess(handle) => {
                actix_web::rt::System::new().block_on(handle.stop(true));
            }
            Server::Child(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some((admin, name)) = self.cleanup.filter(|_| !keep) {
            if let Ok(mut admin) = dayops_persistence::establish(&admin) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub fn token(role: Role, provider_id: Option<&str>) -> String {
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    mint(
        &TokenClaims {
            sub: format!("bench-{role}"),
            role,
            iss: "dayops".into(),
            aud: "dayops-api".into(),
            exp: now + 3600,
            iat: now,
            provider_id: provider_id.map(str::to_string),
        },
        SECRET.as_bytes(),
    )
    .unwrap()
}

/// `--name value` options.
pub fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs one SQL statement directly and fetches every value of every row, as any client of
/// the SQL must. PostgreSQL's simple query protocol (`batch_execute`) sends every value as
/// text already; SQLite's `batch_execute` (`sqlite3_exec` without a callback) steps the
/// rows without reading a column, so there each value is read in the type it is stored in.
pub fn fetch_all(conn: &mut DbConnection, sql: &str) {
    match conn {
        DbConnection::Postgresql(c) => c.batch_execute(sql).unwrap(),
        DbConnection::Sqlite(c) => {
            for row in c.load(diesel::sql_query(sql)).unwrap() {
                let row = row.unwrap();
                for i in 0..row.field_count() {
                    let field = row.get(i).unwrap();
                    let Some(mut value) = field.value() else {
                        continue;
                    };
                    match value.value_type() {
                        Some(SqliteType::Text) => {
                            std::hint::black_box(value.read_text());
                        }
                        Some(SqliteType::Double | SqliteType::Float) => {
                            std::hint::black_box(value.read_double());
                        }
                        Some(SqliteType::Binary) => {
                            std::hint::black_box(value.read_blob());
                        }
                        _ => {
                            std::hint::black_box(value.read_long());
                        }
                    }
                }
            }
        }
    }
}

/// Person `p` of the contract with reference `reference`.
pub fn person(reference: &str, p: usize) -> String {
    format!("{reference}-{p:05}")
}

/// A contract of a provider of its own whose `people` are each planned am and pm Monday to
/// Friday from `start`, at one session rate: what a week of registers is posted against.
/// Set up through the API; returns the provider's and the contract's ids.
pub fn weekday_contract(
    bench: &Bench,
    reference: &str,
    people: usize,
    capacity: u32,
    start: chrono::NaiveDate,
) -> (String, String) {
    use serde_json::json;
    let c = token(Role::Commissioner, None);
    let (status, provider) = bench.send(
        "POST",
        "/v1/providers",
        &c,
        Some(&json!({"name": reference})),
        None,
    );
    assert_eq!(status, 201, "{provider}");
    let provider_id = provider["id"].as_str().unwrap().to_string();
    let (status, contract) = bench.send(
        "POST",
        "/v1/contracts",
        &c,
        Some(&json!({
            "reference": reference, "provider_id": provider_id, "service_type": "building_based",
            "start_date": start.to_string(), "need_bands": ["low", "medium", "high", "complex"],
            "session_hours": {"am": 3, "pm": 3, "full_day": 6}, "capacity_per_session": capacity,
            "allows_extras": true, "over_delivery_tolerance_pct": 10, "register_deadline_days": 60,
            "correction_window_days": 90, "payment_period": "weekly",
            "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24}
        })),
        None,
    );
    assert_eq!(status, 201, "{contract}");
    let contract_id = contract["id"].as_str().unwrap().to_string();
    let cells: Vec<Value> = ["am", "pm"]
        .iter()
        .map(|st| json!({"item": "session", "need_band": "*", "session_type": st, "day_category": "any", "rate_pence": 3000}))
        .collect();
    let (status, _) = bench.send(
        "POST",
        &format!("/v1/contracts/{contract_id}/rate-matrices"),
        &c,
        Some(&json!({"effective_from": start.to_string(), "cells": cells})),
        None,
    );
    assert_eq!(status, 201);
    let planned: Vec<Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .iter()
        .flat_map(|d| {
            ["am", "pm"]
                .iter()
                .map(move |st| json!({"weekday": d, "session_type": st}))
        })
        .collect();
    let agreements: Vec<Value> = (0..people)
        .map(|p| {
            json!({"person_ref": person(reference, p),
                   "need_bands": [{"from": start.to_string(), "band": "medium"}],
                   "planned_sessions": planned, "start_date": start.to_string(),
                   "pathway": "therapeutic"})
        })
        .collect();
    let (status, _) = bench.send(
        "PUT",
        &format!("/v1/contracts/{contract_id}/agreements"),
        &c,
        Some(&json!({"agreements": agreements})),
        None,
    );
    assert_eq!(status, 200);
    (provider_id, contract_id)
}

/// The week from `monday` of a `weekday_contract`: every person attended am and pm, Monday
/// to Friday (people × 10 lines), as the JSON body to post.
pub fn weekday_register(
    reference: &str,
    contract_id: &str,
    people: usize,
    monday: chrono::NaiveDate,
) -> Vec<u8> {
    use serde_json::json;
    let lines: Vec<Value> = (0..people)
        .flat_map(|p| {
            (0..5u64).flat_map(move |d| {
                ["am", "pm"].into_iter().map(move |st| {
                    json!({"person_ref": person(reference, p),
                           "date": (monday + chrono::Days::new(d)).to_string(),
                           "session_type": st, "status": "attended", "outcome_tags": ["wellbeing"]})
                })
            })
        })
        .collect();
    json!({"contract_id": contract_id, "period_start": monday.to_string(),
           "period_end": (monday + chrono::Days::new(6)).to_string(), "lines": lines})
    .to_string()
    .into_bytes()
}
