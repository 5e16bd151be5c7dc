//! Queries and reports at national scale: a database holding a nation's week of registers
//! (2 million lines by default) and 200,000 agreements (100 a contract) beside a year of
//! register, claim and workbook submissions for every contract (one contract's registers
//! have their lines all year, for the person whose timeline is asked for). Prints, for
//! the filtered submissions query and every report (spend, budget monitoring for a year
//! with claims and for one of commitments only, unit costs, reviews, KPIs with the
//! registers' measures, a person's timeline), the time through the API beside the time
//! of the same SQL run directly on the same database, and their ratio.
//!
//! ```sh
//! cargo run --release -p dayops-bench --bin report-bench -- [--contracts 2000] [--lines 1000] [--agreements 100] [--runs 31] [--only NAME] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//! ```
//!
//! `--only` times the queries whose name contains NAME; `--runs` is the least number of
//! rounds, and a case whose round takes under a second runs as many as fill two seconds. Reference data (providers, contracts) goes through the API; the submissions are
//! written straight to the database in bulk, as a year of use would have left them, and
//! the database is then vacuumed and analysed (as PostgreSQL's autovacuum would). The direct SQL is the
//! statement text the server runs, with its parameters inlined, on a connection of its
//! own; every value of its rows is fetched ([`fetch_all`]) but not turned into Rust types.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use diesel::connection::SimpleConnection;
use serde_json::json;

use dayops_bench::{fetch_all, option, percentile, token, Bench};
use dayops_domain::report::FinancialYear;
use dayops_domain::types::Role;
use dayops_domain::workbook::Quarter;
use dayops_persistence::contracts::{id_shares, IdShare};
use dayops_persistence::monitoring::{
    actual_lines_sql, agreement_cohorts_sql, budget_contracts, budget_shards, unit_cost_lines_sql,
};
use dayops_persistence::people::{ATTENDANCE_SQL, CLAIM_LINES_SQL, OUTCOMES_SQL, PLACEMENTS_SQL};
use dayops_persistence::reports::{
    by_provider, claim_binds, counted_claims_sql, register_cohort_weeks_sql, register_weeks_sql,
    review_cutoffs, reviews_sql, spend_lines_sql, KPI_SQL, WORKBOOK_COHORTS_SQL,
};

/// Timed rounds of each case (`--runs`), at the least: quick cases run more
/// ([`time_alternately`]).
const RUNS: usize = 31;
const BANDS: [&str; 4] = ["low", "medium", "high", "complex"];
const CHUNK: usize = 1_000;
/// The contract whose registers have lines in every week of the year, not only in the
/// nation's week: a person's timeline is asked of one of its people, who has a year of
/// attendance (260 lines) as someone placed all year would.
const TIMELINE_CONTRACT: usize = 7;
/// Weekly registers a contract posts in the year; the last is the nation's week.
const WEEKS: u64 = 52;

/// Rows gathered per table and written as multi-row INSERTs.
struct Loader {
    conn: dayops_persistence::DbConnection,
    pending: Vec<(&'static str, &'static str, Vec<String>)>,
    rows: usize,
}

impl Loader {
    fn add(&mut self, table: &'static str, columns: &'static str, row: String) {
        let i = match self.pending.iter().position(|(t, _, _)| *t == table) {
            Some(i) => i,
            None => {
                self.pending.push((table, columns, Vec::new()));
                self.pending.len() - 1
            }
        };
        self.pending[i].2.push(row);
        self.rows += 1;
        if self.pending[i].2.len() >= CHUNK {
            // Parents were first seen first: flushing in that order keeps foreign keys.
            self.flush();
        }
    }

    fn flush_table(&mut self, i: usize) {
        let (table, columns, rows) = &mut self.pending[i];
        if rows.is_empty() {
            return;
        }
        let sql = format!("INSERT INTO {table} ({columns}) VALUES {}", rows.join(","));
        rows.clear();
        self.conn.batch_execute(&sql).unwrap();
    }

    fn flush(&mut self) {
        for i in 0..self.pending.len() {
            self.flush_table(i);
        }
    }
}

const SUBMISSIONS: &str = "id, kind, contract_id, provider_id, period_key, period_start, period_end, current_version, status, created_at, updated_at";
const VERSIONS: &str =
    "submission_id, version, status, body, content_sha256, findings, submitted_by, submitted_at";
const LINES: &str = "submission_id, version, line_no, person_ref, date, session_type, status, absence_reason, notice_hours, one_to_one_quarter_hours, transport_journeys, meal, community_access, outcome_tags";
const CLAIM_LINES: &str = "submission_id, version, line_no, person_ref, date, item, session_type, quantity_quarters, need_band, unit_price_pence, amount_pence, accepted_quantity_quarters, accepted_unit_price_pence, accepted_amount_pence, accepted_need_band";
const FINDINGS: &str = "submission_id, version, code, severity, occurrences";
const AGREEMENTS: &str = "id, contract_id, person_ref, start_date, end_date, pathway, need_bands, planned_sessions, one_to_one_quarter_hours_per_week, transport_journeys_per_week, meals, suspensions, care_plan_review_due, content_sha256, created_at, updated_at, primary_support_reason, funding";
const VERSIONS_OF_MATRICES: &str = "id, contract_id, effective_from, effective_to, created_at";
const CELLS: &str = "version_id, position, item, need_band, session_type, day_category, rate_pence";
const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];
const REASONS: [&str; 4] = ["learning_disability", "autism", "physical", "mental_health"];

/// A contract's rate matrix: 2025/26 and the uplift of 1 April 2026, every band.
fn matrix(loader: &mut Loader, contract: &str) {
    for (from, to, uplift) in [
        ("2025-04-01", "'2026-03-31'", 0),
        ("2026-04-01", "NULL", 35),
    ] {
        let id = uuid::Uuid::now_v7().to_string();
        loader.add(
            "rate_matrix_versions",
            VERSIONS_OF_MATRICES,
            format!("('{id}','{contract}','{from}',{to},'2025-03-01 09:00:00')"),
        );
        let mut position = 0;
        let mut cell = |item: &str, band: &str, session: &str, pence: i64| {
            let pence = pence * (1000 + uplift) / 1000;
            loader.add(
                "rate_cells",
                CELLS,
                format!("('{id}',{position},'{item}','{band}',{session},'any',{pence})"),
            );
            position += 1;
        };
        for (b, band) in BANDS.iter().enumerate() {
            for session in ["am", "pm"] {
                cell(
                    "session",
                    band,
                    &format!("'{session}'"),
                    4_800 + 600 * b as i64,
                );
            }
        }
        cell("one_to_one_hour", "*", "NULL", 1_800);
        cell("transport_journey", "*", "NULL", 850);
        cell("meal", "*", "NULL", 450);
    }
}

/// `count` agreements on a contract, for the people its registers and claims name: two
/// sessions a week, some with one-to-one hours and transport, every fifth enabling (one
/// in four of those running past its weeks), one review in ten overdue, bands changing
/// for one in six.
fn agreements(loader: &mut Loader, ci: usize, contract: &str, count: usize) {
    for n in 0..count {
        let id = uuid::Uuid::now_v7().to_string();
        let start = NaiveDate::from_ymd_opt(2025, 4, 1).unwrap() + Days::new((n % 90) as u64);
        let band = BANDS[(ci + n) % 4];
        let mut bands = format!(r#"[{{"from":"{start}","band":"{band}"}}"#);
        if n % 6 == 5 && band != "complex" {
            let next = BANDS[(ci + n) % 4 + 1];
            bands.push_str(&format!(r#",{{"from":"2026-07-01","band":"{next}"}}"#));
        }
        bands.push(']');
        let (a, b) = (WEEKDAYS[n % 5], WEEKDAYS[(n + 2) % 5]);
        let sessions = format!(
            r#"[{{"weekday":"{a}","session_type":"am"}},{{"weekday":"{b}","session_type":"pm"}}]"#
        );
        // Enablement mostly ends with its twelve weeks; one placement in four runs on.
        let enabling = n % 5 == 0;
        let end = if enabling && n % 20 != 0 {
            format!("'{}'", start + Days::new(84))
        } else if n % 10 == 9 {
            "'2026-09-30'".to_string()
        } else {
            "NULL".to_string()
        };
        let pathway = if enabling { "enabling" } else { "therapeutic" };
        // One review in ten is overdue; the rest fall due next year.
        let review = if n % 10 == 3 {
            NaiveDate::from_ymd_opt(2026, 1 + (n % 9) as u32, 15).unwrap()
        } else {
            NaiveDate::from_ymd_opt(2027, 1 + (n % 12) as u32, 15).unwrap()
        };
        let reason = REASONS[n % 4];
        let funding = if n % 6 == 1 {
            "direct_payment"
        } else {
            "commissioned"
        };
        let one_to_one = if band == "high" || band == "complex" {
            8
        } else {
            0
        };
        loader.add("agreements", AGREEMENTS, format!(
            "('{id}','{contract}','N{ci:05}-{n:05}','{start}',{end},'{pathway}','{bands}','{sessions}',{one_to_one},2,1,'[]','{review}','{:064}','2025-03-01 09:00:00','2025-03-01 09:00:00','{reason}','{funding}')",
            0
        ));
    }
}

fn submission(
    loader: &mut Loader,
    kind: &str,
    contract: &str,
    provider: &str,
    (key, start, end): (String, NaiveDate, NaiveDate),
    status: &str,
    finding: Option<&str>,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let at = "2026-04-20 09:00:00";
    loader.add("submissions", SUBMISSIONS, format!("('{id}','{kind}','{contract}','{provider}','{key}','{start}','{end}',1,'{status}','{at}','{at}')"));
    let findings = match finding {
        Some(code) => {
            loader.add(
                "submission_findings",
                FINDINGS,
                format!("('{id}',1,'{code}','error',1)"),
            );
            format!(
                r#"{{"outcome":"rejected","findings":[{{"code":"{code}","severity":"error","pointer":"/lines/0","message":"bench"}}]}}"#
            )
        }
        None => r#"{"outcome":"accepted","findings":[]}"#.to_string(),
    };
    loader.add(
        "submission_versions",
        VERSIONS,
        format!(
            "('{id}',1,'{status}','{{}}','{:064}','{findings}','bench','{at}')",
            0
        ),
    );
    id
}

/// Times each of `work` in turn, round after round (after one warm-up round), so that
/// the machine's drift falls on all alike; the sorted times of each. A round that takes
/// under a second is run as many more times as fill about [`QUICK_CASE`]: the median of
/// nine timings of a request under a millisecond is mostly the machine's noise (a
/// person's timeline on SQLite was 1.84x of its SQL in nine rounds and 1.26x in 3,000,
/// same build, same database).
fn time_alternately(runs: usize, work: &mut [&mut dyn FnMut()]) -> Vec<Vec<Duration>> {
    let warm_up = Instant::now();
    for w in work.iter_mut() {
        w();
    }
    let round = warm_up.elapsed().max(Duration::from_micros(1));
    let runs = runs.max((QUICK_CASE.as_secs_f64() / round.as_secs_f64()).min(MAX_ROUNDS) as usize);
    let mut times = vec![Vec::with_capacity(runs); work.len()];
    for _ in 0..runs {
        for (w, t) in work.iter_mut().zip(&mut times) {
            let start = Instant::now();
            w();
            t.push(start.elapsed());
        }
    }
    for t in &mut times {
        t.sort();
    }
    times
}

/// The timed work of a quick case's rounds together, at the least.
const QUICK_CASE: Duration = Duration::from_secs(2);
/// Rounds of a quick case at most.
const MAX_ROUNDS: f64 = 5_000.0;

/// The statement with its `?` parameters replaced by SQL literals, in order.
fn inline(sql: &str, literals: &[String]) -> String {
    let mut values = literals.iter();
    sql.chars()
        .map(|c| {
            if c == '?' {
                values.next().unwrap().clone()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A report's statement for every provider, as the server writes it for a commissioner.
fn everyone(sql: &str) -> String {
    by_provider(sql, None)
}

/// A SQL string literal.
fn q(s: &str) -> String {
    format!("'{s}'")
}

/// The literals of the register measures' binds for `quarter`, every contract.
fn register_binds_for(quarter: Quarter) -> Vec<String> {
    vec![
        q(&quarter.start().to_string()),
        q(&quarter.end().to_string()),
        q(""),
        q(""),
        q(""),
        q(""),
    ]
}

/// The literals of a share's binds ([`IdShare::binds`]).
fn share_binds(share: &IdShare) -> Vec<String> {
    share.binds().iter().map(|b| q(b)).collect()
}

/// A year's counted claims of a share of the contracts and `lines_sql`'s lines of them
/// (`reports::each_counted_line`), every provider's, as statements of their own.
fn claim_statements(lines_sql: &str, year: FinancialYear, share: &IdShare) -> [String; 2] {
    let claims: Vec<String> = claim_binds(year.start(), year.end())
        .iter()
        .map(|d| q(&d.to_string()))
        .chain([q(""), q("")])
        .chain(share_binds(share))
        .collect();
    let lines = [
        claims.clone(),
        vec![q(&year.start().to_string()), q(&year.end().to_string())],
    ]
    .concat();
    [
        inline(&everyone(&counted_claims_sql()), &claims),
        inline(&everyone(lines_sql), &lines),
    ]
}

fn main() {
    let contracts: usize =
        option("--contracts").map_or(2_000, |v| v.parse().expect("--contracts N"));
    let lines_each: usize = option("--lines").map_or(1_000, |v| v.parse().expect("--lines N"));
    let runs: usize = option("--runs").map_or(RUNS, |v| v.parse().expect("--runs N"));
    let agreements_each: usize =
        option("--agreements").map_or(100, |v| v.parse().expect("--agreements N"));
    let bench = Bench::start(option("--postgres").as_deref());
    let commissioner = token(Role::Commissioner, None);
    let auditor = token(Role::Auditor, None);

    let t = Instant::now();
    let mut ids = Vec::with_capacity(contracts);
    for i in 0..contracts {
        if i % 4 == 0 {
            let (status, p) = bench.send(
                "POST",
                "/v1/providers",
                &commissioner,
                Some(&json!({"name": format!("Bench Provider {i}")})),
                None,
            );
            assert_eq!(status, 201, "{p}");
            ids.push((String::new(), p["id"].as_str().unwrap().to_string()));
        } else {
            let provider = ids.last().unwrap().1.clone();
            ids.push((String::new(), provider));
        }
        let provider = ids[i].1.clone();
        let (status, c) = bench.send(
            "POST",
            "/v1/contracts",
            &commissioner,
            Some(&json!({
                "reference": format!("BENCH-{i:05}"), "provider_id": provider, "service_type": "community",
                "start_date": "2024-04-01", "need_bands": BANDS,
                "session_hours": {"am": 3, "pm": 3}, "capacity_per_session": 5000,
                "allows_extras": true, "over_delivery_tolerance_pct": 10, "register_deadline_days": 7,
                "correction_window_days": 56, "payment_period": "four_weekly", "payment_anchor_date": "2025-03-31",
                "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24},
                "kpi_targets": [{"code": "community_access_pct", "target": 80, "amber_below": 60}],
                "annual_budget_pence": 50_000_000
            })),
            None,
        );
        assert_eq!(status, 201, "{c}");
        ids[i].0 = c["id"].as_str().unwrap().to_string();
    }
    let reference_time = t.elapsed();

    let t = Instant::now();
    let mut loader = Loader {
        conn: dayops_persistence::establish(&bench.database_url).unwrap(),
        pending: Vec::new(),
        rows: 0,
    };
    loader.conn.batch_execute("BEGIN").unwrap();
    let first_monday = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
    let year = FinancialYear(2025);
    for (ci, (contract, provider)) in ids.iter().enumerate() {
        matrix(&mut loader, contract);
        agreements(&mut loader, ci, contract, agreements_each);
        // A year of weekly registers; every tenth rejected with REG-002.
        for w in 0..WEEKS {
            let monday = first_monday + Days::new(7 * w);
            let rejected = (ci + w as usize).is_multiple_of(10);
            let id = submission(
                &mut loader,
                "register",
                contract,
                provider,
                (monday.to_string(), monday, monday + Days::new(6)),
                if rejected { "rejected" } else { "accepted" },
                rejected.then_some("REG-002"),
            );
            // The nation's week has lines in every contract's register; the other weeks
            // only in the timeline's contract's, whose people so have a year of history.
            let with_lines = w == WEEKS - 1 || ci == TIMELINE_CONTRACT;
            // Each register version's outcome measures, as the register write keeps them.
            let people = if with_lines {
                lines_each.div_ceil(5)
            } else {
                0
            };
            loader.add(
                "register_week_measures",
                "submission_id, version, attending, in_community, independence, social_inclusion, wellbeing, life_goals, employment_volunteering_education, community_networks",
                format!("('{id}',1,{people},{people},0,0,0,0,0,0)"),
            );
            for person in 0..people {
                loader.add(
                    "register_person_weeks",
                    "submission_id, version, person_ref, in_community, independence, social_inclusion, wellbeing, life_goals, employment_volunteering_education, community_networks",
                    format!("('{id}',1,'N{ci:05}-{person:05}',TRUE,FALSE,FALSE,FALSE,FALSE,FALSE,FALSE)"),
                );
            }
            if with_lines {
                for n in 0..lines_each {
                    let date = monday + Days::new((n % 5) as u64);
                    let session = if n % 2 == 0 { "am" } else { "pm" };
                    loader.add("register_lines", LINES, format!(
                        "('{id}',1,{n},'N{ci:05}-{:05}','{date}','{session}','attended',NULL,NULL,NULL,0,FALSE,TRUE,'')",
                        n / 5
                    ));
                }
            }
        }
        // Thirteen four-weekly claims, in every state; 20 lines each across the bands.
        let statuses = [
            "paid",
            "approved",
            "accepted",
            "partially_accepted",
            "declined",
        ];
        for k in 0..13u64 {
            let start = first_monday + Days::new(28 * k);
            let status = statuses[(ci + k as usize) % statuses.len()];
            let id = submission(
                &mut loader,
                "claim",
                contract,
                provider,
                (start.to_string(), start, start + Days::new(27)),
                status,
                None,
            );
            let mut total = 0i64;
            for n in 0..20usize {
                let band = BANDS[(ci + n) % 4];
                let price = 4_800 + 600 * ((ci + n) % 4) as i64;
                total += price;
                let date = start + Days::new((n % 20) as u64);
                loader.add("claim_lines", CLAIM_LINES, format!(
                    "('{id}',1,{n},'N{ci:05}-{n:05}','{date}','session','am',4,'{band}',{price},{price},4,{price},{price},'{band}')"
                ));
            }
            loader.add(
                "claim_totals",
                "submission_id, version, claimed_total_pence, accepted_total_pence",
                format!("('{id}',1,{total},{total})"),
            );
        }
        // Four quarterly workbooks with their KPI results.
        for q in 1..=4u32 {
            let quarter = Quarter {
                year: 2025,
                number: q,
            };
            let id = submission(
                &mut loader,
                "workbook",
                contract,
                provider,
                (quarter.to_string(), quarter.start(), quarter.end()),
                "accepted",
                None,
            );
            let value = 50 + (ci * 7 + q as usize * 13) % 50;
            let rag = if value < 60 {
                "red"
            } else if value < 80 {
                "amber"
            } else {
                "green"
            };
            for k in 0..10usize {
                let status = ["achieved", "progressing", "not_started", "declined"][(ci + k) % 4];
                loader.add(
                    "workbook_person_outcomes",
                    "submission_id, version, position, person_ref, domain, status",
                    format!("('{id}',1,{k},'N{ci:05}-{k:05}','wellbeing','{status}')"),
                );
            }
            loader.add(
                "workbook_kpis",
                "submission_id, version, code, value, target, amber_below, rag",
                format!("('{id}',1,'community_access_pct',{value},80,60,'{rag}')"),
            );
        }
    }
    loader.flush();
    loader.conn.batch_execute("COMMIT").unwrap();
    // What autovacuum would do after a bulk load, done now so it does not run during the
    // measurements (PostgreSQL). SQLite gathers statistics and checkpoints the load out of
    // its write-ahead log, as the server's writers do after each commit (this connection
    // does not): otherwise every page read searches a log of the whole load.
    let settle = if bench.backend == "postgresql" {
        "VACUUM ANALYZE"
    } else {
        "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)"
    };
    loader.conn.batch_execute(settle).unwrap();
    let load_time = t.elapsed();
    let rows = loader.rows;
    let conn = std::cell::RefCell::new(loader.conn);

    // The answer is read whole as bytes: the client takes it in without parsing it, as the
    // direct SQL fetches its values without turning them into Rust types.
    let get = |path: &str| {
        let response = bench
            .agent
            .get(&format!("{}{path}", bench.base))
            .set("Authorization", &format!("Bearer {auditor}"))
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
        body
    };
    let quarter = Quarter {
        year: 2025,
        number: 2,
    };
    // The quarter of the nation's week, whose registers the KPI report measures.
    let busy_quarter = Quarter {
        year: 2025,
        number: 4,
    };
    let from = "2025-10-01";
    let day = |d: NaiveDate| q(&d.to_string());
    let contracts_sql = |year: FinancialYear| {
        format!(
            "SELECT * FROM contracts WHERE start_date <= '{}' AND (end_date IS NULL OR end_date >= '{}') ORDER BY reference",
            year.end(),
            year.start()
        )
    };
    // Budget monitoring reads its contracts, then each shard's rate versions, rate cells,
    // agreements and claim lines (`monitoring::price_budget_shard`, the shards as the
    // server splits them on this machine): the same statements here, one after another
    // on one connection, where the server runs the shards at once.
    let parallel = std::thread::available_parallelism().map_or(1, usize::from);
    let backend = dayops_persistence::Backend::of_url(&bench.database_url);
    let budget_statements = |year: FinancialYear| {
        let contracts = budget_contracts(&mut conn.borrow_mut(), year, None).unwrap();
        let mut statements = vec![contracts_sql(year)];
        for shard in budget_shards(&contracts, false, parallel) {
            let (first, last) = shard.contracts().bounds().unwrap();
            let range = format!("contract_id BETWEEN {} AND {}", q(first), q(last));
            statements.extend([
                format!(
                    "SELECT id, contract_id, effective_from, effective_to, created_at \
                     FROM rate_matrix_versions WHERE {range} ORDER BY contract_id, effective_from"
                ),
                format!(
                    "SELECT version_id, position, item, need_band, session_type, day_category, rate_pence \
                     FROM rate_cells WHERE version_id IN (SELECT id FROM rate_matrix_versions WHERE {range})"
                ),
                format!(
                    "SELECT contract_id, person_ref, start_date, end_date, need_bands, planned_sessions, \
                     one_to_one_quarter_hours_per_week, transport_journeys_per_week, meals, suspensions, \
                     primary_support_reason, funding FROM agreements \
                     WHERE start_date <= '{}' AND (end_date IS NULL OR end_date >= '{}') AND {range}",
                    year.end(),
                    year.start()
                ),
            ]);
            statements.extend(claim_statements(
                &actual_lines_sql(backend),
                year,
                shard.claims(),
            ));
        }
        statements
    };
    // The spend and unit-cost reports read the year's claim lines in shares of the
    // contracts (`contracts::id_shares`), one after another here.
    let year_contracts = budget_contracts(&mut conn.borrow_mut(), year, None).unwrap();
    let ids: Vec<&str> = year_contracts.iter().map(|c| c.id.as_str()).collect();
    let line_shares = id_shares(&ids, parallel);
    let cohort_weeks = register_cohort_weeks_sql(backend);
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let (review_cutoff, enablement_cutoff) = review_cutoffs(as_of);
    // A person who attends every week of the year, as most people placed do.
    let person = format!("N{TIMELINE_CONTRACT:05}-00003");
    let person = person.as_str();
    let (ever, never) = (q("0001-01-01"), q("9999-12-31"));
    let register_binds = [
        day(busy_quarter.start()),
        day(busy_quarter.end()),
        q(""),
        q(""),
        q(""),
        q(""),
    ];
    let cases: Vec<(&str, String, &str, Vec<String>)> = vec![
        (
            "submissions (kind, finding, period; 500)",
            format!("/v1/submissions?kind=register&finding_code=REG-002&period_from={from}&limit=500"),
            "\"items\":[{",
            vec![format!(
                "SELECT {SUBMISSIONS} FROM submissions WHERE kind = 'register' AND period_start >= '{from}' \
                 AND EXISTS (SELECT 1 FROM submission_findings f WHERE f.submission_id = submissions.id \
                 AND f.version = submissions.current_version AND f.code = 'REG-002') ORDER BY id LIMIT 501"
            )],
        ),
        (
            "spend report (financial year)",
            "/v1/reports/spend?financial_year=2025".to_string(),
            "\"items\":[{",
            vec![
                format!(
                    "SELECT id, reference, provider_id, budgets, annual_budget_pence FROM contracts WHERE start_date <= '{}' \
                     AND (end_date IS NULL OR end_date >= '{}') ORDER BY reference",
                    year.end(),
                    year.start()
                ),
            ]
            .into_iter()
            .chain(line_shares.iter().flat_map(|share| claim_statements(&spend_lines_sql(backend), year, share)))
            .collect(),
        ),
        (
            "budget monitoring (2025: claimed)",
            "/v1/reports/budget?financial_year=2025".to_string(),
            "\"scope\":\"council\"",
            budget_statements(year),
        ),
        (
            "budget monitoring (2026: commitments)",
            "/v1/reports/budget?financial_year=2026".to_string(),
            "\"scope\":\"council\"",
            budget_statements(FinancialYear(2026)),
        ),
        (
            "unit costs (financial year)",
            format!("/v1/reports/unit-costs?period_from={}&period_to={}", year.start(), year.end()),
            "\"scope\":\"service_type_band\"",
            vec![
                contracts_sql(year),
            ]
            .into_iter()
            .chain(line_shares.iter().flat_map(|share| {
                let [claims, lines] = claim_statements(&unit_cost_lines_sql(backend), year, share);
                [
                    inline(&agreement_cohorts_sql(None), &[vec![q(""), q("")], share_binds(share)].concat()),
                    claims,
                    lines,
                ]
            }))
            .collect(),
        ),
        (
            "reviews (as of a day)",
            format!("/v1/reports/reviews?as_of={as_of}"),
            "\"items\":[{",
            vec![inline(
                &reviews_sql(false, false),
                &[
                    day(as_of),
                    day(as_of),
                    day(as_of),
                    day(review_cutoff),
                    day(enablement_cutoff),
                    q(""),
                    q(""),
                    q(""),
                    q(""),
                ],
            )],
        ),
        (
            "KPI report (quarter)",
            format!("/v1/reports/kpis?quarter={quarter}"),
            "\"items\":[{",
            vec![
                inline(&register_weeks_sql(false, false), &register_binds_for(quarter)),
                inline(&everyone(KPI_SQL), &[q(&quarter.start().to_string()), q(""), q("")]),
                inline(&everyone(&cohort_weeks), &register_binds_for(quarter)[..4]),
                inline(&everyone(WORKBOOK_COHORTS_SQL), &[q(&quarter.start().to_string()), q(""), q("")]),
            ],
        ),
        (
            "KPI report (the nation's quarter)",
            format!("/v1/reports/kpis?quarter={busy_quarter}"),
            "\"registers\":[{",
            vec![
                inline(&register_weeks_sql(false, false), &register_binds),
                inline(&everyone(KPI_SQL), &[q(&busy_quarter.start().to_string()), q(""), q("")]),
                inline(&everyone(&cohort_weeks), &register_binds[..4]),
                inline(&everyone(WORKBOOK_COHORTS_SQL), &[q(&busy_quarter.start().to_string()), q(""), q("")]),
            ],
        ),
        (
            "a person's timeline",
            format!("/v1/people/{person}"),
            "\"placements\":[{",
            vec![
                inline(PLACEMENTS_SQL, &[q(person), never.clone(), ever.clone()]),
                inline(ATTENDANCE_SQL, &[q(person), ever.clone(), never.clone()]),
                inline(CLAIM_LINES_SQL, &[q(person), ever.clone(), never.clone()]),
                inline(OUTCOMES_SQL, &[q(person), ever.clone(), never.clone()]),
            ],
        ),
    ];

    println!("backend      {}", bench.backend);
    println!(
        "database     {contracts} contracts; {} register lines in the nation's week and {} in one contract's other weeks; {} agreements; {} rows bulk-loaded in {:.0} s (reference data through the API in {:.0} s)",
        contracts * lines_each,
        (WEEKS as usize - 1) * lines_each,
        contracts * agreements_each,
        rows,
        load_time.as_secs_f64(),
        reference_time.as_secs_f64()
    );
    // The last column is the SQL with its rows stepped through but no value read, as
    // `batch_execute` does on SQLite; on PostgreSQL it is the same work as "SQL ms".
    println!(
        "{:<42} {:>10} {:>10} {:>7} {:>14} {:>7}",
        "query", "API ms", "SQL ms", "ratio", "SQL unread ms", "rounds"
    );
    let only = option("--only");
    for (name, path, expect, statements) in cases {
        if only.as_deref().is_some_and(|only| !name.contains(only)) {
            continue;
        }
        let body = String::from_utf8(get(&path)).unwrap();
        assert!(
            body.contains(expect),
            "{name}: {}",
            &body[..body.len().min(300)]
        );
        let times = time_alternately(
            runs,
            &mut [
                &mut || {
                    get(&path);
                },
                &mut || {
                    for statement in &statements {
                        fetch_all(&mut conn.borrow_mut(), statement);
                    }
                },
                &mut || {
                    for statement in &statements {
                        conn.borrow_mut().batch_execute(statement).unwrap();
                    }
                },
            ],
        );
        let [a, s, stepped] = [0, 1, 2].map(|i| percentile(&times[i], 0.5).as_secs_f64() * 1000.0);
        // Hundredths of a millisecond for the queries that take under ten.
        let ms = |v: f64| {
            if v < 10.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.1}")
            }
        };
        println!(
            "{name:<42} {:>10} {:>10} {:>6.2}x {:>14} {:>7}",
            ms(a),
            ms(s),
            a / s,
            ms(stepped),
            times[0].len()
        );
    }
    // What every request costs before its own work: the client's and the server's HTTP
    // exchange, routing and middleware, with no token checked and no statement run.
    let floor = time_alternately(
        1,
        &mut [&mut || {
            get("/healthz");
        }],
    );
    println!(
        "the HTTP exchange alone (GET /healthz): {:.2} ms, median of {} rounds",
        percentile(&floor[0], 0.5).as_secs_f64() * 1000.0,
        floor[0].len()
    );
    drop(conn);
    bench.finish();
}
