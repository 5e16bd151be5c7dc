//! Register throughput: 500-line registers posted by concurrent clients to a running
//! server, beside a raw multi-row INSERT of the same rows into the same database.
//!
//! ```sh
//! cargo run --release -p dayops-bench --bin register-bench -- [--clients 16] [--registers 128] [--interval-ms N] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//! ```
//!
//! By default each client posts its next register as soon as the last is answered (a closed
//! loop: the server is saturated, and latency is queueing behind the other clients). With
//! `--interval-ms N` each client starts a register every N ms instead (an open loop at
//! `clients × 1000 / N` registers/s, the clients' starts spread across the interval), and a
//! register's latency counts from when it was due, so a client that falls behind is not
//! hidden.
//!
//! Without `--postgres` it runs on a SQLite file in a temporary folder; with it, on a
//! fresh PostgreSQL database that it drops afterwards. Both measurements run in the same
//! process on the same database, so their ratio is what to read: the machine's noise
//! moves both.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate};
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use dayops_bench::{option, percentile, token, Bench};
use dayops_domain::types::Role;
use dayops_persistence::DbConnection;

const LINES: usize = 500;

fn main() {
    let clients: usize = option("--clients").map_or(16, |v| v.parse().expect("--clients N"));
    let registers: usize = option("--registers").map_or(128, |v| v.parse().expect("--registers N"));
    let interval: Option<Duration> =
        option("--interval-ms").map(|v| Duration::from_millis(v.parse().expect("--interval-ms N")));
    let bench = Bench::start(option("--postgres").as_deref());

    // Reference data: one provider, one contract, LINES people each planned on Monday am.
    let commissioner = token(Role::Commissioner, None);
    let (_, provider) = bench.send(
        "POST",
        "/v1/providers",
        &commissioner,
        Some(&json!({"name": "Bench Day Services"})),
        None,
    );
    let provider_id = provider["id"].as_str().unwrap().to_string();
    let (_, contract) = bench.send(
        "POST",
        "/v1/contracts",
        &commissioner,
        Some(&json!({
            "reference": "BENCH-1", "provider_id": provider_id, "service_type": "building_based",
            "start_date": "2020-01-06", "need_bands": ["low", "medium", "high", "complex"],
            "session_hours": {"am": 3, "pm": 3, "full_day": 6}, "capacity_per_session": 1000,
            "allows_extras": true, "over_delivery_tolerance_pct": 10, "register_deadline_days": 7,
            "correction_window_days": 56, "payment_period": "weekly",
            "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24},
            "annual_budget_pence": 500_000_000
        })),
        None,
    );
    let contract_id = contract["id"].as_str().unwrap().to_string();
    bench.send(
        "POST",
        &format!("/v1/contracts/{contract_id}/rate-matrices"),
        &commissioner,
        Some(&json!({"effective_from": "2020-01-06", "cells": [{"item": "session", "need_band": "*", "session_type": "am", "day_category": "any", "rate_pence": 3000}]})),
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
    bench.send(
        "PUT",
        &format!("/v1/contracts/{contract_id}/agreements"),
        &commissioner,
        Some(&json!({"agreements": agreements})),
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
        let (status, _) = bench.send(
            "POST",
            "/v1/registers",
            &provider_token,
            Some(&register(week).1),
            Some(&format!("warm-{week}")),
        );
        assert_eq!(status, 201);
    }

    // Through the API: `clients` threads, each posting its share of registers in turn.
    // Bodies are serialised before the clock starts, as the raw side's SQL is: the client's
    // JSON work is not the API's cost.
    let bodies: Vec<(usize, Vec<u8>)> = (warmup..warmup + registers)
        .map(|w| (w, register(w).1.to_string().into_bytes()))
        .collect();
    let started = Instant::now();
    let (latencies, api_seconds) = run_clients(
        started,
        &bodies,
        vec![(); clients],
        |_, client, n, (week, body)| {
            let t = match interval {
                // Paced clients' starts are spread evenly across one interval.
                Some(i) => {
                    let due = started + i * client as u32 / clients as u32 + i * n as u32;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    due
                }
                None => Instant::now(),
            };
            let response = bench
                .agent
                .post(&format!("{}/v1/registers", bench.base))
                .set("Authorization", &format!("Bearer {provider_token}"))
                .set("Idempotency-Key", &format!("w{week}"))
                .set("Content-Type", "application/json")
                .send_bytes(body)
                .expect("register stored");
            assert_eq!(response.status(), 201, "register for week {week}");
            let _ = response.into_string();
            t.elapsed()
        },
    );
    let api_lines = (registers * LINES) as f64;
    let sequenced = sequencing_delays(&bench.database_url);

    // Raw: the same rows, a multi-row INSERT of 500 per transaction, one connection, into a
    // table with the same columns, primary key and index as register_lines (less the
    // foreign key, since these rows belong to no submission).
    // Raw: the same rows, a multi-row INSERT of 500 per transaction, into a table with the
    // same columns, primary key and index as register_lines (less the foreign key, since
    // these rows belong to no submission). First from one connection, one register after
    // another (the rate the API is compared with), then into a second such table from
    // `clients` connections at once, each inserting its share in turn like the API's
    // clients: the latency the rows alone have at this concurrency. SQLite writers there
    // queue on a mutex, in arrival order, as the server's do.
    let raw_statements = |table: &str| -> Vec<String> {
        bodies
            .iter()
            .map(|(week, _)| {
                let monday = register(*week).0;
                let values: Vec<String> = people
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("('raw-{week}', 1, {i}, '{p}', '{monday}', 'am', 'attended', NULL, NULL, NULL, 0, FALSE, FALSE, 'wellbeing')"))
                    .collect();
                format!("BEGIN; INSERT INTO {table} VALUES {}; COMMIT;", values.join(","))
            })
            .collect()
    };
    let mut conn = dayops_persistence::establish(&bench.database_url).unwrap();
    for table in ["bench_register_lines", "bench_register_lines_concurrent"] {
        conn.batch_execute(&format!(
            "CREATE TABLE {table} (
                submission_id TEXT NOT NULL, version INTEGER NOT NULL, line_no INTEGER NOT NULL,
                person_ref TEXT NOT NULL, date DATE NOT NULL, session_type TEXT NOT NULL,
                status TEXT NOT NULL, absence_reason TEXT, notice_hours INTEGER,
                one_to_one_quarter_hours INTEGER, transport_journeys INTEGER NOT NULL,
                meal BOOLEAN NOT NULL, community_access BOOLEAN NOT NULL, outcome_tags TEXT NOT NULL,
                PRIMARY KEY (submission_id, version, line_no));
             CREATE INDEX {table}_person_date ON {table} (person_ref, date);"
        ))
        .unwrap();
    }
    let statements = raw_statements("bench_register_lines");
    let started = Instant::now();
    for statement in &statements {
        conn.batch_execute(statement).unwrap();
    }
    let raw_seconds = started.elapsed().as_secs_f64();

    let statements = raw_statements("bench_register_lines_concurrent");
    let connections: Vec<DbConnection> = (0..clients)
        .map(|_| dayops_persistence::establish(&bench.database_url).unwrap())
        .collect();
    let sqlite_writer = parking_lot::Mutex::new(());
    let (raw_latencies, concurrent_seconds) = run_clients(
        Instant::now(),
        &statements,
        connections,
        |conn, _, _, statement| {
            let t = Instant::now();
            let turn = matches!(conn, DbConnection::Sqlite(_)).then(|| sqlite_writer.lock());
            conn.batch_execute(statement).unwrap();
            if let Some(turn) = turn {
                parking_lot::MutexGuard::unlock_fair(turn);
            }
            t.elapsed()
        },
    );

    let api_rate = api_lines / api_seconds;
    let raw_rate = api_lines / raw_seconds;
    let concurrent_rate = api_lines / concurrent_seconds;
    println!("backend            {}", bench.backend);
    println!("registers          {registers} x {LINES} lines, {clients} concurrent clients");
    println!("api                {api_rate:>10.0} lines/s  ({api_seconds:.2} s)");
    println!("raw insert         {raw_rate:>10.0} lines/s  ({raw_seconds:.2} s)");
    match interval {
        None => println!("api / raw          {:>10.1} %", 100.0 * api_rate / raw_rate),
        Some(i) => println!(
            "paced              each client starts a register every {} ms: {:.1} registers/s offered (the API rate is the pace, not a capacity)",
            i.as_millis(),
            clients as f64 / i.as_secs_f64()
        ),
    }
    println!("latency per register  {}", latency_summary(&latencies));
    println!(
        "audit events sequenced after their commit ({} events)  {}",
        sequenced.len(),
        latency_summary(&sequenced)
    );
    println!(
        "raw insert, {clients} connections at once {concurrent_rate:>10.0} lines/s  ({concurrent_seconds:.2} s)"
    );
    if interval.is_none() {
        println!(
            "api / raw, {clients} at once {:>10.1} %",
            100.0 * api_rate / concurrent_rate
        );
    }
    println!(
        "raw latency per register  {}",
        latency_summary(&raw_latencies)
    );
    drop(conn);
    bench.finish();
}

/// Waits until the log's sequencer has sequenced every event, then reads how long each
/// event of the run waited between its write transaction and its place in the log.
fn sequencing_delays(database_url: &str) -> Vec<Duration> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Delay {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        at: chrono::NaiveDateTime,
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        sequenced_at: chrono::NaiveDateTime,
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = dayops_persistence::establish(database_url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = dayops_persistence::load_sql!(
            &mut conn,
            "SELECT COUNT(*) AS n FROM audit_pending",
            Count,
            []
        )
        .unwrap();
        if pending[0].n == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let rows = dayops_persistence::load_sql!(
        &mut conn,
        "SELECT at, sequenced_at FROM audit_events WHERE sequenced_at IS NOT NULL",
        Delay,
        []
    )
    .unwrap();
    let mut delays: Vec<Duration> = rows
        .iter()
        .map(|r| (r.sequenced_at - r.at).to_std().unwrap_or_default())
        .collect();
    delays.sort();
    delays
}

fn latency_summary(sorted: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        ms(percentile(sorted, 0.50)),
        ms(percentile(sorted, 0.95)),
        ms(percentile(sorted, 0.99)),
        ms(*sorted.last().unwrap()),
    )
}

/// Runs one thread per client, each with its own `state`, client `c` taking items `c`,
/// `c + clients`, … in turn; `work(state, client, n, item)` does the client's `n`th item
/// and returns its latency. Returns the latencies, sorted, and the seconds since `started`.
fn run_clients<T: Sync, S: Send>(
    started: Instant,
    items: &[T],
    states: Vec<S>,
    work: impl Fn(&mut S, usize, usize, &T) -> Duration + Sync,
) -> (Vec<Duration>, f64) {
    let clients = states.len();
    let work = &work;
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .into_iter()
            .enumerate()
            .map(|(client, mut state)| {
                scope.spawn(move || {
                    items
                        .iter()
                        .skip(client)
                        .step_by(clients)
                        .enumerate()
                        .map(|(n, item)| work(&mut state, client, n, item))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    latencies.sort();
    (latencies, started.elapsed().as_secs_f64())
}
