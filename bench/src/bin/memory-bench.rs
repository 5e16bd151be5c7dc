//! Memory under large submissions: the peak resident set while (a) 32 clients post
//! 5,000-line registers and (b) 8 clients read a 95,000-line register at once, and the
//! resident set 10 s after each.
//!
//! ```sh
//! cargo run --release -p dayops-bench --bin memory-bench -- [--case many|big] [--postgres URL]
//! ```
//!
//! `--case` runs one case alone in the process (both by default, one after the other, when
//! the second starts from what the first left).
//!
//! The server runs as a `dayops serve` process of its own (`cargo build --release --bin
//! dayops` first) and its own resident set is read from /proc; the clients stream what
//! they read into a sink.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days};
use serde_json::Value;

use dayops_bench::{option, token, weekday_contract, weekday_register, Bench};
use dayops_domain::types::Role;

/// The server's process (its own when `--separate` is not given).
static PID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn proc_file(name: &str) -> String {
    format!("/proc/{}/{name}", PID.get().map_or("self", String::as_str))
}

fn status_kb(field: &str) -> f64 {
    std::fs::read_to_string(proc_file("status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn rss_mb() -> f64 {
    status_kb("VmRSS:") / 1024.0
}

fn peak_mb() -> f64 {
    status_kb("VmHWM:") / 1024.0
}

fn reset_peak() {
    let _ = std::fs::write(proc_file("clear_refs"), "5");
    ANON_PEAK_KB.store(0, Ordering::Relaxed);
}

/// The largest anonymous resident set seen since `reset_peak`, sampled every 10 ms. The
/// resident set (`VmHWM`) also counts the pages of SQLite's database file it maps, which
/// the kernel drops whenever it needs the room; anonymous memory is the process's own.
static ANON_PEAK_KB: AtomicUsize = AtomicUsize::new(0);

fn anon_mb() -> f64 {
    status_kb("RssAnon:") / 1024.0
}

fn sample_anonymous_memory() {
    std::thread::spawn(|| loop {
        let now = status_kb("RssAnon:") as usize;
        ANON_PEAK_KB.fetch_max(now, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(10));
    });
}

/// "peak X MB (anonymous Y MB), 10 s after X MB (anonymous Y MB)".
fn peak_and_settled() -> String {
    let (peak, anon_peak) = (
        peak_mb(),
        ANON_PEAK_KB.load(Ordering::Relaxed) as f64 / 1024.0,
    );
    let after = settled(10);
    format!(
        "peak {peak:>5.0} MB (anonymous {anon_peak:>4.0}), 10 s after {after:>5.0} MB (anonymous {:>4.0})",
        anon_mb()
    )
}

fn post(bench: &Bench, provider_id: &str, key: &str, body: &[u8]) {
    let response = bench
        .agent
        .post(&format!("{}/v1/registers", bench.base))
        .set(
            "Authorization",
            &format!("Bearer {}", token(Role::Provider, Some(provider_id))),
        )
        .set("Idempotency-Key", key)
        .set("Content-Type", "application/json")
        .send_bytes(body);
    let response = match response {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = response.status();
    std::io::copy(&mut response.into_reader(), &mut std::io::sink()).unwrap();
    assert_eq!(status, 201);
}

/// The resident set after `seconds` of quiet.
fn settled(seconds: u64) -> f64 {
    std::thread::sleep(Duration::from_secs(seconds));
    rss_mb()
}

fn main() {
    let bench = Bench::start_process(option("--postgres").as_deref());
    if let Some(pid) = bench.server_pid() {
        let _ = PID.set(pid.to_string());
    }
    sample_anonymous_memory();
    let today = chrono::Utc::now().date_naive();
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let start = monday - Days::new(35);
    println!("backend            {}", bench.backend);
    println!("at start           {:>6.0} MB", rss_mb());

    let case = option("--case");
    let run = |name: &str| case.as_deref().is_none_or(|c| c == name);

    // (a) 32 clients post 5,000-line registers: each its own contract, four weeks each.
    if run("many") {
        let clients = 32;
        let contracts: Vec<(String, String)> = (0..clients)
            .map(|i| weekday_contract(&bench, &format!("MEM{i:02}"), 500, 10_000, start))
            .collect();
        reset_peak();
        let started = Instant::now();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..clients {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= clients * 4 {
                        break;
                    }
                    let (i, week) = (n % clients, n / clients);
                    let (provider_id, contract_id) = &contracts[i];
                    let body = weekday_register(
                        &format!("MEM{i:02}"),
                        contract_id,
                        500,
                        monday - Days::new(7 * week as u64),
                    );
                    post(&bench, provider_id, &format!("m{n}"), &body);
                });
            }
        });
        println!(
            "32 clients x 4 registers of 5,000 lines in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            peak_and_settled()
        );
    }

    // (b) one 95,000-line register, then 8 clients read it at once, twice each.
    if !run("big") {
        bench.finish();
        return;
    }
    let (provider_id, contract_id) = weekday_contract(&bench, "BIG", 9_500, 10_000, start);
    println!("before posting     {:>6.0} MB", rss_mb());
    let body = weekday_register("BIG", &contract_id, 9_500, monday);
    println!(
        "big register       {:.1} MB of JSON",
        body.len() as f64 / 1e6
    );
    reset_peak();
    let response = bench
        .agent
        .post(&format!("{}/v1/registers", bench.base))
        .set(
            "Authorization",
            &format!("Bearer {}", token(Role::Provider, Some(&provider_id))),
        )
        .set("Idempotency-Key", "big")
        .set("Content-Type", "application/json")
        .send_bytes(&body)
        .unwrap();
    let id = response.into_json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(body);
    println!("posting it: {}", peak_and_settled());
    reset_peak();
    let started = Instant::now();
    let read = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..2 {
                    let response = bench
                        .agent
                        .get(&format!("{}/v1/registers/{id}", bench.base))
                        .set(
                            "Authorization",
                            &format!("Bearer {}", token(Role::Provider, Some(&provider_id))),
                        )
                        .call()
                        .unwrap();
                    let n =
                        std::io::copy(&mut response.into_reader(), &mut std::io::sink()).unwrap();
                    read.fetch_add(n as usize, Ordering::Relaxed);
                }
            });
        }
    });
    println!(
        "8 clients x 2 GETs of it ({:.1} MB each) in {:.1} s: {}",
        read.load(Ordering::Relaxed) as f64 / 16.0 / 1e6,
        started.elapsed().as_secs_f64(),
        peak_and_settled()
    );
    bench.finish();
}
