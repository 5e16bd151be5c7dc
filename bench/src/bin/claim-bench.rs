//! Claim pricing: the time to validate and price a 10,000-line claim through the API,
//! against a database holding a year of registers for its contract, beside the time of
//! the plain SQL reads that pricing needs (run directly on the same database).
//!
//! ```sh
//! cargo run --release -p dayops-bench --bin claim-bench -- [--people 2000] [--weeks 52] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//! ```
//!
//! The plain reads are sent as SQL text and their rows fetched but not decoded; the API
//! also parses the claim, decodes the rows, prices and checks every line and answers with
//! every line priced.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{Datelike, Days};
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use dayops_bench::{option, percentile, token, Bench};
use dayops_domain::types::Role;

const RUNS: usize = 7;
const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

fn main() {
    let people: usize = option("--people").map_or(2_000, |v| v.parse().expect("--people N"));
    let weeks: u64 = option("--weeks").map_or(52, |v| v.parse().expect("--weeks N"));
    let bench = Bench::start(option("--postgres").as_deref());
    let commissioner = token(Role::Commissioner, None);
    let (_, provider) = bench.send(
        "POST",
        "/v1/providers",
        &commissioner,
        Some(&json!({"name": "Bench Claims Ltd"})),
        None,
    );
    let provider_id = provider["id"].as_str().unwrap().to_string();
    let (_, contract) = bench.send(
        "POST",
        "/v1/contracts",
        &commissioner,
        Some(&json!({
            "reference": "BENCH-CLAIMS", "provider_id": provider_id, "service_type": "community",
            "start_date": "2020-01-06", "need_bands": ["low", "medium", "high", "complex"],
            "session_hours": {"am": 3, "pm": 3}, "capacity_per_session": 5000,
            "allows_extras": true, "over_delivery_tolerance_pct": 10, "register_deadline_days": 7,
            "correction_window_days": 56, "payment_period": "weekly",
            "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24},
            "annual_budget_pence": 900_000_000
        })),
        None,
    );
    let contract_id = contract["id"].as_str().unwrap().to_string();
    bench.send(
        "POST",
        &format!("/v1/contracts/{contract_id}/rate-matrices"),
        &commissioner,
        Some(&json!({"effective_from": "2020-01-06", "cells": [
            {"item": "session", "need_band": "*", "session_type": "am", "day_category": "any", "rate_pence": 4800},
            {"item": "session", "need_band": "complex", "session_type": "am", "day_category": "any", "rate_pence": 7200}
        ]})),
        None,
    );
    let persons: Vec<String> = (0..people).map(|i| format!("C{i:06}")).collect();
    let bands = ["low", "medium", "high", "complex"];
    let agreements: Vec<Value> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"person_ref": p, "need_bands": [{"from": "2020-01-06", "band": bands[i % 4]}],
            "planned_sessions": WEEKDAYS.iter().map(|w| json!({"weekday": w, "session_type": "am"})).collect::<Vec<_>>(),
            "start_date": "2020-01-06", "pathway": "therapeutic"}))
        .collect();
    bench.send(
        "PUT",
        &format!("/v1/contracts/{contract_id}/agreements"),
        &commissioner,
        Some(&json!({"agreements": agreements})),
        None,
    );

    // A year of registers: every person, every weekday morning.
    let provider_token = token(Role::Provider, Some(&provider_id));
    let today = chrono::Utc::now().date_naive();
    let last_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let loading = Instant::now();
    for week in 0..weeks {
        let monday = last_monday - Days::new(7 * week);
        let lines: Vec<Value> = (0..5)
            .flat_map(|d| {
                let date = (monday + Days::new(d)).to_string();
                persons.iter().map(move |p| json!({"person_ref": p, "date": date, "session_type": "am", "status": "attended", "community_access": true}))
            })
            .collect();
        let register = json!({"contract_id": contract_id, "period_start": monday.to_string(), "period_end": (monday + Days::new(6)).to_string(), "lines": lines});
        let (status, body) = bench.send(
            "POST",
            "/v1/registers",
            &provider_token,
            Some(&register),
            Some(&format!("week-{week}")),
        );
        assert_eq!(status, 201, "{body}");
    }
    let register_lines = weeks as usize * people * 5;
    let loading = loading.elapsed();

    // The claim for the last week, as the draft prices it.
    let (status, claim) = bench.send(
        "POST",
        &format!("/v1/claims/draft?contract_id={contract_id}&period_start={last_monday}"),
        &provider_token,
        None,
        None,
    );
    assert_eq!(status, 200, "{claim}");
    let claim_lines = claim["lines"].as_array().unwrap().len();
    let claim_body = claim.to_string().into_bytes();

    let mut api: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let response = bench
                .agent
                .post(&format!("{}/v1/claims/validate", bench.base))
                .set("Authorization", &format!("Bearer {provider_token}"))
                .set("Content-Type", "application/json")
                .send_bytes(&claim_body)
                .expect("validated");
            let text = response.into_string().unwrap();
            let elapsed = t.elapsed();
            assert!(
                text.contains("\"status\":\"accepted\""),
                "{}",
                &text[..text.len().min(300)]
            );
            elapsed
        })
        .collect();
    api.sort();

    // The reads pricing needs, as plain SQL on a connection of their own.
    let period_end = last_monday + Days::new(6);
    let in_list = persons
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(",");
    let reads = [
        format!("SELECT * FROM contracts WHERE id = '{contract_id}'"),
        format!("SELECT * FROM rate_matrix_versions WHERE contract_id = '{contract_id}'"),
        format!("SELECT c.* FROM rate_cells c JOIN rate_matrix_versions v ON v.id = c.version_id WHERE v.contract_id = '{contract_id}'"),
        format!("SELECT * FROM agreements WHERE contract_id = '{contract_id}'"),
        format!(
            "SELECT l.person_ref, l.date, l.session_type, l.status, l.absence_reason, l.notice_hours, \
             l.one_to_one_quarter_hours, l.transport_journeys, l.meal FROM register_lines l \
             JOIN submissions s ON s.id = l.submission_id AND s.current_version = l.version \
             WHERE s.kind = 'register' AND s.contract_id = '{contract_id}' AND s.status <> 'rejected' \
             AND l.date BETWEEN '{last_monday}' AND '{period_end}'"
        ),
        format!("SELECT person_ref, date, session_key, item FROM claimed_units WHERE person_ref IN ({in_list}) AND date BETWEEN '{last_monday}' AND '{period_end}'"),
    ];
    let mut conn = dayops_persistence::establish(&bench.database_url).unwrap();
    let mut sql: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for read in &reads {
                conn.batch_execute(read).unwrap();
            }
            t.elapsed()
        })
        .collect();
    sql.sort();

    let (api_median, sql_median) = (percentile(&api, 0.5), percentile(&sql, 0.5));
    println!("backend             {}", bench.backend);
    println!("registers           {weeks} weeks, {register_lines} lines ({:.1} s to load through the API)", loading.as_secs_f64());
    println!("claim               {claim_lines} lines");
    println!(
        "validate and price  median {:.1} ms  (min {:.1} ms)",
        api_median.as_secs_f64() * 1000.0,
        api[0].as_secs_f64() * 1000.0
    );
    println!(
        "plain SQL reads     median {:.1} ms  (min {:.1} ms)",
        sql_median.as_secs_f64() * 1000.0,
        sql[0].as_secs_f64() * 1000.0
    );
    println!(
        "api / sql           {:.1}x",
        api_median.as_secs_f64() / sql_median.as_secs_f64()
    );
    drop(conn);
    bench.finish();
}
