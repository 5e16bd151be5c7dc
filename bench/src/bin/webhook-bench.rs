//! Webhook latency and cost: clients post registers (one contract each, `--people` people
//! planned am and pm Monday to Friday) while every provider has a webhook subscription to
//! a local receiver. Prints how long each `register.created` took from its commit (the
//! event's `occurred_at`, taken in the writing transaction) to the receiver, and register
//! throughput in the same run without subscriptions and with them delivering.
//!
//! ```sh
//! cargo run --release -p dayops-bench --bin webhook-bench -- [--clients 16] [--registers 12] [--people 20] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, Utc};
use serde_json::{json, Value};

use dayops_bench::{option, percentile, token, weekday_contract, weekday_register, Bench};
use dayops_domain::types::Role;

/// Each delivery's lag from its event's commit to its arrival.
type Arrivals = Arc<Mutex<Vec<(String, Duration)>>>;

fn receiver() -> (u16, Arrivals) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let arrivals: Arrivals = Arc::default();
    let record = arrivals.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let record = record.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let arrived = Utc::now();
                if let Ok(event) = serde_json::from_slice::<Value>(&body) {
                    let occurred: chrono::DateTime<Utc> = event["data"]["occurred_at"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let lag = (arrived - occurred).to_std().unwrap_or_default();
                    let kind = event["type"].as_str().unwrap_or("").to_string();
                    record.lock().unwrap().push((kind, lag));
                }
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            });
        }
    });
    (port, arrivals)
}

/// Posts `registers` weeks to each contract from `clients` threads; registers a second.
fn post_weeks(
    bench: &Bench,
    contracts: &[(String, String, String)],
    people: usize,
    weeks: std::ops::Range<u64>,
) -> f64 {
    let today = Utc::now().date_naive();
    let this_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let started = Instant::now();
    std::thread::scope(|s| {
        for (reference, provider, contract) in contracts {
            let weeks = weeks.clone();
            s.spawn(move || {
                let t = token(Role::Provider, Some(provider));
                for week in weeks {
                    let monday = this_monday - Days::new(7 * (week + 1));
                    let body: Value = serde_json::from_slice(&weekday_register(
                        reference, contract, people, monday,
                    ))
                    .unwrap();
                    let key = uuid::Uuid::new_v4().to_string();
                    let (status, answer) =
                        bench.send("POST", "/v1/registers", &t, Some(&body), Some(&key));
                    assert_eq!(status, 201, "{answer}");
                }
            });
        }
    });
    (contracts.len() as u64 * (weeks.end - weeks.start)) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let clients: usize = option("--clients").map_or(16, |v| v.parse().expect("--clients N"));
    let registers: u64 = option("--registers").map_or(12, |v| v.parse().expect("--registers N"));
    let people: usize = option("--people").map_or(20, |v| v.parse().expect("--people N"));
    let bench = Bench::start(option("--postgres").as_deref());
    let start = Utc::now().date_naive() - Days::new(7 * (2 * registers + 10));
    let start = start - Days::new(u64::from(start.weekday().num_days_from_monday()));
    let contracts: Vec<(String, String, String)> = (0..clients)
        .map(|i| {
            let reference = format!("WH-{i:03}");
            let (provider, contract) = weekday_contract(&bench, &reference, people, 1000, start);
            (reference, provider, contract)
        })
        .collect();

    // A round to warm up, then without subscriptions (the weeks further back).
    post_weeks(&bench, &contracts, people, 2 * registers..2 * registers + 2);
    let without = post_weeks(&bench, &contracts, people, registers..2 * registers);
    // Everything so far sequenced, so the subscriptions start after it.
    let (status, _) = bench.send(
        "POST",
        "/v1/audit/checkpoint",
        &token(Role::Auditor, None),
        None,
        None,
    );
    assert_eq!(status, 200);

    // With one subscription a provider, delivering to the local receiver.
    let (port, arrivals) = receiver();
    for (_, provider, _) in &contracts {
        let (status, answer) = bench.send(
            "POST",
            "/v1/webhook-subscriptions",
            &token(Role::Provider, Some(provider)),
            Some(&json!({"url": format!("http://127.0.0.1:{port}/hooks"), "event_types": ["register.created"]})),
            None,
        );
        assert_eq!(status, 201, "{answer}");
    }
    let with = post_weeks(&bench, &contracts, people, 0..registers);
    let expected = clients * usize::try_from(registers).unwrap();
    let waited = Instant::now();
    while arrivals.lock().unwrap().len() < expected && waited.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut lags: Vec<Duration> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|(_, lag)| *lag)
        .collect();
    lags.sort();
    println!(
        "webhook-bench on {}: {clients} clients, {registers} registers each of {} lines",
        bench.backend,
        people * 10
    );
    println!("registers/s without subscriptions   {without:8.1}");
    println!(
        "registers/s with {clients} delivering      {with:8.1}   ({:.2}× without)",
        with / without
    );
    println!(
        "deliveries {} of {expected}; from commit to receiver: p50 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.50),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default()
    );
    // The outbox's own cost: a change's feed row, written alone in a transaction of its
    // own, as many times as there were registers, on the same database in the same run.
    let mut conn = dayops_persistence::establish(&bench.database_url).unwrap();
    let rows = 500;
    let started = Instant::now();
    for i in 0..rows {
        let notice = dayops_persistence::feed::Notice {
            provider_id: "bench".into(),
            event_type: dayops_domain::events::EventType::RegisterCreated,
            object_id: format!("bench-{i}"),
            object_version: Some(1),
            payload: json!({"status": "accepted", "errors": 0, "warnings": 0}),
        };
        dayops_persistence::write_transaction(&mut conn, |conn| {
            dayops_persistence::feed::record(conn, &uuid::Uuid::now_v7().to_string(), &notice)
        })
        .unwrap();
    }
    let per_row = started.elapsed() / rows;
    let per_register = Duration::from_secs_f64(1.0 / without * clients as f64);
    println!(
        "outbox row written alone: {per_row:?} a change; a register took {per_register:?} a client ({:.1}%)",
        100.0 * per_row.as_secs_f64() / per_register.as_secs_f64()
    );
    bench.finish();
}
