//! A nation's week: thousands of contracts all posting registers for the same week, on a
//! fresh database, through HTTP.
//!
//! ```sh
//! cargo run --release -p dayops-bench --bin nation-bench -- [--contracts 4000] [--people 50] [--clients 16] [--postgres URL]
//! ```
//!
//! Setup, through the API from as many clients: a provider, a contract, a rate matrix
//! and `--people` agreements (each planned am and pm, Monday to Friday) for every
//! contract. Then the week: one register per contract (people × 10 lines, 500 by default:
//! 4,000 contracts are 2.0 M lines), posted by `--clients` clients in a closed loop. It
//! prints lines/s overall and per quarter of the registers (in the order they were
//! answered), p50 and p99 per register, the process's peak RSS during the week (the
//! server's, with the clients' few bodies in flight; the peak is reset after setup), and
//! the same rows written raw: one binary COPY a
//! register on PostgreSQL, one multi-row INSERT a register on SQLite, into a table shaped
//! like `register_lines`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate};
use diesel::connection::SimpleConnection;
use diesel::{ExecuteCopyFromDsl, RunQueryDsl};

use dayops_bench::{option, percentile, person, token, weekday_contract, weekday_register, Bench};
use dayops_domain::types::Role;
use dayops_persistence::DbConnection;

diesel::table! {
    nation_raw_lines (submission_id, line_no) {
        submission_id -> Text,
        line_no -> Integer,
        person_ref -> Text,
        date -> Date,
        session_type -> Text,
        status -> Text,
        transport_journeys -> Integer,
        meal -> Bool,
        community_access -> Bool,
        outcome_tags -> Text,
    }
}

#[derive(diesel::Insertable)]
#[diesel(table_name = nation_raw_lines)]
#[diesel(treat_none_as_default_value = false)]
struct RawLine<'a> {
    submission_id: &'a str,
    line_no: i32,
    person_ref: &'a str,
    date: NaiveDate,
    session_type: &'static str,
    status: &'static str,
    transport_journeys: i32,
    meal: bool,
    community_access: bool,
    outcome_tags: &'static str,
}

/// Runs `work` over `items` from `clients` threads, each taking the next item in turn.
fn in_parallel<T: Sync, R: Send>(
    clients: usize,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = work(item);
                results.lock().unwrap().push(r);
            });
        }
    });
    results.into_inner().unwrap()
}

/// The process's peak resident set since the last reset, in MB (Linux).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let contracts: usize = option("--contracts").map_or(4000, |v| v.parse().unwrap());
    let people: usize = option("--people").map_or(50, |v| v.parse().unwrap());
    let clients: usize = option("--clients").map_or(16, |v| v.parse().unwrap());
    let bench = Bench::start(option("--postgres").as_deref());
    // `--analyze-empty`: statistics taken while the tables are empty, as an autovacuum run
    // on a young database leaves them; the lookups must not depend on their being fresh.
    if std::env::args().any(|a| a == "--analyze-empty") {
        let mut conn = dayops_persistence::establish(&bench.database_url).unwrap();
        conn.batch_execute("ANALYZE").unwrap();
    }
    let today = chrono::Utc::now().date_naive();
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let start_date = monday - Days::new(364);

    // Setup through the API.
    let setup = Instant::now();
    let indexes: Vec<usize> = (0..contracts).collect();
    let made = in_parallel(clients, &indexes, |&c| {
        let reference = format!("NATION-{c:05}");
        let (provider_id, contract_id) =
            weekday_contract(&bench, &reference, people, 100, start_date);
        (c, provider_id, contract_id)
    });
    let setup_seconds = setup.elapsed().as_secs_f64();

    // The week's registers: each body is made by its client just before it is sent (a
    // quarter of a millisecond), so the process holds no more than the clients in flight
    // and its peak RSS is the server's.
    let register_body = |c: usize, contract_id: &str| -> Vec<u8> {
        weekday_register(&format!("NATION-{c:05}"), contract_id, people, monday)
    };
    let registers: Vec<(usize, String, String, String)> = made
        .iter()
        .map(|(c, provider_id, contract_id)| {
            (
                *c,
                provider_id.clone(),
                token(Role::Provider, Some(provider_id)),
                contract_id.clone(),
            )
        })
        .collect();
    let lines_per_register = people * 10;

    reset_peak_rss();
    let started = Instant::now();
    let mut answered: Vec<(Instant, Duration)> =
        in_parallel(clients, &registers, |(c, provider, token, contract_id)| {
            let body = register_body(*c, contract_id);
            let t = Instant::now();
            let response = bench
                .agent
                .post(&format!("{}/v1/registers", bench.base))
                .set("Authorization", &format!("Bearer {token}"))
                .set("Idempotency-Key", &format!("week-{provider}"))
                .set("Content-Type", "application/json")
                .send_bytes(&body);
            let response = match response {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("{e}"),
            };
            let status = response.status();
            let text = response.into_string().unwrap_or_default();
            assert_eq!(status, 201, "{text}");
            assert!(text.contains("\"status\":\"accepted\""), "{text}");
            (Instant::now(), t.elapsed())
        });
    let week_seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    answered.sort_by_key(|a| a.0);
    let mut latencies: Vec<Duration> = answered.iter().map(|a| a.1).collect();
    latencies.sort();

    let total_lines = (registers.len() * lines_per_register) as f64;
    println!("backend            {}", bench.backend);
    println!(
        "setup              {contracts} contracts, {} agreements through the API in {setup_seconds:.1} s",
        contracts * people
    );
    println!(
        "week               {} registers x {lines_per_register} lines = {total_lines:.0} lines from {clients} clients",
        registers.len()
    );
    println!(
        "api                {:>10.0} lines/s  ({week_seconds:.1} s)",
        total_lines / week_seconds
    );
    let quarter = answered.len().div_ceil(4);
    let mut previous = started;
    let mut rates = Vec::new();
    for (q, chunk) in answered.chunks(quarter).enumerate() {
        let end = chunk.last().unwrap().0;
        let rate = (chunk.len() * lines_per_register) as f64 / (end - previous).as_secs_f64();
        rates.push(rate);
        println!("  quarter {}        {rate:>10.0} lines/s", q + 1);
        previous = end;
    }
    if let (Some(first), Some(lowest)) = (rates.first(), rates.iter().copied().reduce(f64::min)) {
        println!("  lowest / first   {:>10.2}", lowest / first);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "latency per register  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
    println!("peak RSS (week)    {peak:>10.0} MB");

    // Raw: the same rows, one register a statement, from one connection.
    let mut conn = dayops_persistence::establish(&bench.database_url).unwrap();
    conn.batch_execute(
        "CREATE TABLE nation_raw_lines (
            submission_id TEXT NOT NULL, line_no INTEGER NOT NULL, person_ref TEXT NOT NULL,
            date DATE NOT NULL, session_type TEXT NOT NULL, status TEXT NOT NULL,
            transport_journeys INTEGER NOT NULL, meal BOOLEAN NOT NULL,
            community_access BOOLEAN NOT NULL, outcome_tags TEXT NOT NULL,
            PRIMARY KEY (submission_id, line_no));
         CREATE INDEX nation_raw_lines_person_date ON nation_raw_lines (person_ref, date);",
    )
    .unwrap();
    let people_refs: Vec<Vec<String>> = made
        .iter()
        .map(|(c, _, _)| {
            (0..people)
                .map(|p| person(&format!("NATION-{c:05}"), p))
                .collect()
        })
        .collect();
    let started = Instant::now();
    for (r, refs) in people_refs.iter().enumerate() {
        let id = format!("raw-{r}");
        let rows: Vec<RawLine> = refs
            .iter()
            .flat_map(|person| {
                (0..5u64).flat_map(move |d| ["am", "pm"].into_iter().map(move |st| (person, d, st)))
            })
            .enumerate()
            .map(|(i, (person, d, st))| RawLine {
                submission_id: &id,
                line_no: i as i32,
                person_ref: person,
                date: monday + Days::new(d),
                session_type: st,
                status: "attended",
                transport_journeys: 0,
                meal: false,
                community_access: false,
                outcome_tags: "wellbeing",
            })
            .collect();
        match &mut conn {
            DbConnection::Postgresql(pg) => {
                diesel::copy_from(nation_raw_lines::table)
                    .from_insertable(&rows)
                    .execute(pg)
                    .unwrap();
            }
            DbConnection::Sqlite(lite) => {
                // One transaction a register; 500 rows × 10 columns fit one statement.
                lite.batch_execute("BEGIN").unwrap();
                for chunk in rows.chunks(3_000) {
                    diesel::insert_into(nation_raw_lines::table)
                        .values(chunk)
                        .execute(lite)
                        .unwrap();
                }
                lite.batch_execute("COMMIT").unwrap();
            }
        }
    }
    let raw_seconds = started.elapsed().as_secs_f64();
    let raw_name = match conn {
        DbConnection::Postgresql(_) => "raw COPY",
        DbConnection::Sqlite(_) => "raw INSERT",
    };
    println!(
        "{raw_name:<18} {:>10.0} lines/s  ({raw_seconds:.1} s, one connection, a register a statement)",
        total_lines / raw_seconds
    );
    println!(
        "api / raw          {:>10.1} %",
        100.0 * raw_seconds / week_seconds
    );
    drop(conn);
    bench.finish();
}
