//! Register throughput: 500-line registers posted by concurrent clients to a running
//! server, beside a raw multi-row INSERT of the same rows into the same database.
//!
//! ```sh
//! cargo run --release -p dayops-bench -- [--clients 16] [--registers 128] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//! ```
//!
//! Without `--postgres` it runs on a SQLite file in a temporary folder; with it, on a
//! fresh PostgreSQL database that it drops afterwards. Both measurements run in the same
//! process on the same database, so their ratio is what to read: the machine's noise
//! moves both.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate};
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use dayops_domain::types::Role;
use dayops_http::auth::{mint, TokenClaims};
use dayops_server::config::{JwtKey, Secret};
use dayops_server::{open_database, start, Config};

const SECRET: &str = "bench-secret-bench-secret-0123456789abcdef";
const LINES: usize = 500;

struct Options {
    clients: usize,
    registers: usize,
    postgres: Option<String>,
}

fn options() -> Options {
    let mut opts = Options {
        clients: 16,
        registers: 128,
        postgres: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--clients" => opts.clients = value.parse().expect("--clients N"),
            "--registers" => opts.registers = value.parse().expect("--registers N"),
            "--postgres" => opts.postgres = Some(value),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    opts
}

fn token(role: Role, provider_id: Option<&str>) -> String {
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

fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = agent
        .request(method, url)
        .set("Authorization", &format!("Bearer {token}"));
    if let Some(key) = key {
        request = request.set("Idempotency-Key", key);
    }
    let response = match request
        .set("Content-Type", "application/json")
        .send_string(&body.to_string())
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    (status, response.into_json().unwrap_or(Value::Null))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let opts = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, cleanup) = match &opts.postgres {
        Some(admin) => {
            let name = format!("dayops_bench_{}", uuid::Uuid::new_v4().simple());
            dayops_persistence::establish(admin)
                .unwrap()
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            let base = &admin[..admin.rfind('/').unwrap()];
            (format!("{base}/{name}"), Some((admin.clone(), name)))
        }
        None => (
            dir.path().join("bench.db").to_string_lossy().into_owned(),
            None,
        ),
    };
    let backend = dayops_persistence::Backend::of_url(&database_url).name();
    let config = Config {
        database_url: database_url.clone(),
        bind: "127.0.0.1:0".into(),
        jwt_key: Some(JwtKey::Secret(Secret(SECRET.as_bytes().to_vec()))),
        jwt_issuer: "dayops".into(),
        jwt_audience: "dayops-api".into(),
        max_body_bytes: 16 * 1024 * 1024,
        pool_size: 16,
        workers: 2,
    };
    let pool = open_database(&config).expect("database");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let server_config = config.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = start(&server_config, pool, listener).unwrap();
            tx.send(server.handle()).unwrap();
            server.await.unwrap();
        })
    });
    let handle = rx.recv().unwrap();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();

    // Reference data: one provider, one contract, LINES people each planned on Monday am.
    let commissioner = token(Role::Commissioner, None);
    let (_, provider) = send(
        &agent,
        "POST",
        &format!("{base}/v1/providers"),
        &commissioner,
        &json!({"name": "Bench Day Services"}),
        None,
    );
    let provider_id = provider["id"].as_str().unwrap().to_string();
    let (_, contract) = send(
        &agent,
        "POST",
        &format!("{base}/v1/contracts"),
        &commissioner,
        &json!({
            "reference": "BENCH-1", "provider_id": provider_id, "service_type": "building_based",
            "start_date": "2020-01-06", "need_bands": ["low", "medium", "high", "complex"],
            "session_hours": {"am": 3, "pm": 3, "full_day": 6}, "capacity_per_session": 1000,
            "allows_extras": true, "over_delivery_tolerance_pct": 10, "register_deadline_days": 7,
            "correction_window_days": 56, "payment_period": "weekly",
            "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24},
            "annual_budget_pence": 500_000_000
        }),
        None,
    );
    let contract_id = contract["id"].as_str().unwrap().to_string();
    send(
        &agent,
        "POST",
        &format!("{base}/v1/contracts/{contract_id}/rate-matrices"),
        &commissioner,
        &json!({"effective_from": "2020-01-06", "cells": [{"item": "session", "need_band": "*", "session_type": "am", "day_category": "any", "rate_pence": 3000}]}),
        None,
    );
    let people: Vec<String> = (0..LINES).map(|i| format!("B{i:06}")).collect();
    let agreements: Vec<Value> = people
        .iter()
        .map(|p| {
            json!({"person_ref": p, "need_bands": [{"from": "2020-01-06", "band": "medium"}],
                        "planned_sessions": [{"weekday": "monday", "session_type": "am"}],
                        "start_date": "2020-01-06", "pathway": "therapeutic"})
        })
        .collect();
    send(
        &agent,
        "PUT",
        &format!("{base}/v1/contracts/{contract_id}/agreements"),
        &commissioner,
        &json!({"agreements": agreements}),
        None,
    );

    let today = chrono::Utc::now().date_naive();
    let last_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let register = |week: usize| -> (NaiveDate, Value) {
        let monday = last_monday - Days::new(7 * week as u64);
        let lines: Vec<Value> = people
            .iter()
            .map(|p| json!({"person_ref": p, "date": monday.to_string(), "session_type": "am", "status": "attended",
                            "transport_journeys": 0, "outcome_tags": ["wellbeing"]}))
            .collect();
        (
            monday,
            json!({"contract_id": contract_id, "period_start": monday.to_string(),
                        "period_end": (monday + Days::new(6)).to_string(), "lines": lines}),
        )
    };
    let provider_token = token(Role::Provider, Some(&provider_id));

    // Warm up: caches, prepared statements, the pool.
    let warmup = 4;
    for week in 0..warmup {
        let (status, _) = send(
            &agent,
            "POST",
            &format!("{base}/v1/registers"),
            &provider_token,
            &register(week).1,
            Some(&format!("warm-{week}")),
        );
        assert_eq!(status, 201);
    }

    // Through the API: `clients` threads, each posting its share of registers in turn.
    let bodies: Vec<(usize, Value)> = (warmup..warmup + opts.registers)
        .map(|w| (w, register(w).1))
        .collect();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..opts.clients)
            .map(|client| {
                let mine: Vec<&(usize, Value)> =
                    bodies.iter().skip(client).step_by(opts.clients).collect();
                let (agent, base, token) = (&agent, &base, &provider_token);
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|(week, body)| {
                            let t = Instant::now();
                            let (status, _) = send(
                                agent,
                                "POST",
                                &format!("{base}/v1/registers"),
                                token,
                                body,
                                Some(&format!("w{week}")),
                            );
                            assert_eq!(status, 201, "register for week {week}");
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let api_seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let api_lines = (opts.registers * LINES) as f64;

    // Raw: the same rows, a multi-row INSERT of 500 per transaction, one connection.
    let mut conn = dayops_persistence::establish(&database_url).unwrap();
    // The same columns, primary key and index as register_lines (less the foreign key,
    // since these rows belong to no submission).
    conn.batch_execute(
        "CREATE TABLE bench_register_lines (
            submission_id TEXT NOT NULL, version INTEGER NOT NULL, line_no INTEGER NOT NULL,
            person_ref TEXT NOT NULL, date DATE NOT NULL, session_type TEXT NOT NULL,
            status TEXT NOT NULL, absence_reason TEXT, notice_hours INTEGER,
            one_to_one_quarter_hours INTEGER, transport_journeys INTEGER NOT NULL,
            meal BOOLEAN NOT NULL, community_access BOOLEAN NOT NULL, outcome_tags TEXT NOT NULL,
            PRIMARY KEY (submission_id, version, line_no));
         CREATE INDEX bench_register_lines_person_date ON bench_register_lines (person_ref, date);",
    )
    .unwrap();
    let statements: Vec<String> = bodies
        .iter()
        .map(|(week, _)| {
            let monday = register(*week).0;
            let values: Vec<String> = people
                .iter()
                .enumerate()
                .map(|(i, p)| format!("('raw-{week}', 1, {i}, '{p}', '{monday}', 'am', 'attended', NULL, NULL, NULL, 0, FALSE, FALSE, 'wellbeing')"))
                .collect();
            format!("BEGIN; INSERT INTO bench_register_lines VALUES {}; COMMIT;", values.join(","))
        })
        .collect();
    let started = Instant::now();
    for statement in &statements {
        conn.batch_execute(statement).unwrap();
    }
    let raw_seconds = started.elapsed().as_secs_f64();

    let api_rate = api_lines / api_seconds;
    let raw_rate = api_lines / raw_seconds;
    println!("backend            {backend}");
    println!(
        "registers          {} x {LINES} lines, {} concurrent clients",
        opts.registers, opts.clients
    );
    println!("api                {api_rate:>10.0} lines/s  ({api_seconds:.2} s)");
    println!("raw insert         {raw_rate:>10.0} lines/s  ({raw_seconds:.2} s)");
    println!("api / raw          {:>10.1} %", 100.0 * api_rate / raw_rate);
    println!(
        "latency per register  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.95).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );

    drop(conn);
    actix_web::rt::System::new().block_on(handle.stop(true));
    if let Some((admin, name)) = cleanup {
        if let Ok(mut admin) = dayops_persistence::establish(&admin) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
