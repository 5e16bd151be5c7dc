//! Reports end to end: spend over a scripted year on the demo council, checked against
//! totals computed here from the raw claims; KPIs and compliance; CSV beside JSON.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde_json::{json, Value};

use crate::support::TestApp;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A contract of the demo council by reference: (id, provider id).
fn demo_contract(app: &TestApp, reference: &str) -> (String, String) {
    let list = app.get("/v1/contracts?limit=500", &app.commissioner());
    let c = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference"] == reference)
        .unwrap();
    (
        c["id"].as_str().unwrap().to_string(),
        c["provider_id"].as_str().unwrap().to_string(),
    )
}

fn in_range(date: NaiveDate, from: &Value, to: &Value) -> bool {
    from.as_str().is_some_and(|f| d(f) <= date) && to.as_str().is_none_or(|t| date <= d(t))
}

/// Every planned session of the week's agreements in force, attended, with an outcome.
fn week_register(contract: &str, agreements: &[Value], monday: NaiveDate) -> Value {
    const WEEKDAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let closures = [d("2025-12-29"), d("2025-12-30"), d("2025-12-31")];
    let mut lines = Vec::new();
    for a in agreements {
        for planned in a["planned_sessions"].as_array().unwrap() {
            let offset = WEEKDAYS
                .iter()
                .position(|w| planned["weekday"] == *w)
                .unwrap();
            let date = monday + Days::new(offset as u64);
            let suspended = a["suspensions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| in_range(date, &s["from"], &s["to"]));
            if !in_range(date, &a["start_date"], &a["end_date"])
                || suspended
                || closures.contains(&date)
            {
                continue;
            }
            lines.push(json!({
                "person_ref": a["person_ref"], "date": date, "session_type": planned["session_type"],
                "status": "attended", "outcome_tags": ["wellbeing"]
            }));
        }
    }
    json!({
        "contract_id": contract, "period_start": monday, "period_end": monday + Days::new(6),
        "lines": lines, "acknowledged_warnings": ["SUB-002"]
    })
}

fn keyed_post(app: &TestApp, path: &str, token: &str, body: &Value) -> crate::support::Resp {
    app.request_with(
        "POST",
        path,
        Some(token),
        Some(("application/json", body.to_string().into_bytes())),
        &[("Idempotency-Key", &uuid::Uuid::new_v4().to_string())],
    )
}

/// Registers for every week from `first_monday` to `last_monday`, then a claim drafted
/// from them for each period start, decided in turn: paid, approved, left pending.
fn script_year(
    app: &TestApp,
    reference: &str,
    first_monday: NaiveDate,
    last_monday: NaiveDate,
    period_starts: &[NaiveDate],
) -> String {
    let (contract, provider) = demo_contract(app, reference);
    let token = app.provider(&provider);
    let agreements = app.get(
        &format!("/v1/contracts/{contract}/agreements?limit=500"),
        &app.commissioner(),
    );
    let agreements = agreements.body["items"].as_array().unwrap().clone();
    let mut monday = first_monday;
    while monday <= last_monday {
        let r = keyed_post(
            app,
            "/v1/registers",
            &token,
            &week_register(&contract, &agreements, monday),
        );
        r.expect(201);
        monday = monday + Days::new(7);
    }
    let c = app.commissioner();
    for (i, start) in period_starts.iter().enumerate() {
        let draft = app.request(
            "POST",
            &format!("/v1/claims/draft?contract_id={contract}&period_start={start}"),
            Some(&token),
            None,
        );
        draft.expect(200);
        let claim = keyed_post(app, "/v1/claims", &token, &draft.body);
        claim.expect(201);
        let id = claim.body["id"].as_str().unwrap();
        if i % 3 != 2 {
            app.post(
                &format!("/v1/claims/{id}/decision"),
                &c,
                &json!({"decision": "approve", "reason": "matches the registers"}),
            )
            .expect(200);
        }
        if i % 3 == 0 {
            app.post(
                &format!("/v1/claims/{id}/payment"),
                &c,
                &json!({"remittance_ref": format!("R{i}"), "paid_on": "2026-04-10"}),
            )
            .expect(200);
        }
    }
    contract
}

#[derive(Debug, Default, PartialEq)]
struct Expected {
    approved: i64,
    paid: i64,
    pending: i64,
    forecast: i64,
    bands: BTreeMap<String, i64>,
}

/// The spend of a contract in financial year 2025, from its claims as the API returns them.
fn expected_spend(app: &TestApp, contract: &str) -> Expected {
    let (fy_start, fy_end) = (d("2025-04-01"), d("2026-03-31"));
    let mut e = Expected::default();
    let mut covered_to: Option<NaiveDate> = None;
    let list = app.get(
        &format!("/v1/claims?contract_id={contract}&limit=500"),
        &app.auditor(),
    );
    for summary in list.body["items"].as_array().unwrap() {
        let claim = app.get(
            &format!("/v1/claims/{}", summary["id"].as_str().unwrap()),
            &app.auditor(),
        );
        let start = d(claim.body["period_start"].as_str().unwrap());
        if start < fy_start || start > fy_end {
            continue;
        }
        let total = claim.body["accepted_total_pence"].as_i64().unwrap();
        match claim.body["status"].as_str().unwrap() {
            "paid" => {
                e.approved += total;
                e.paid += total;
            }
            "approved" | "needs_adjustment" => e.approved += total,
            "accepted" | "accepted_with_warnings" | "partially_accepted" => e.pending += total,
            _ => continue,
        }
        let end = d(claim.body["period_end"].as_str().unwrap());
        covered_to = Some(covered_to.map_or(end, |c| c.max(end)));
        for line in claim.body["lines"].as_array().unwrap() {
            let band = line["accepted_need_band"]
                .as_str()
                .or(line["need_band"].as_str())
                .unwrap();
            *e.bands.entry(band.to_string()).or_default() +=
                line["accepted_amount_pence"].as_i64().unwrap();
        }
    }
    e.bands.retain(|_, v| *v != 0);
    if let Some(to) = covered_to {
        let days = (to.min(fy_end) - fy_start).num_days() + 1;
        let committed = (e.approved + e.pending) as f64;
        e.forecast = (committed * 365.0 / days as f64).round() as i64;
    }
    e
}

#[test]
fn spend_matches_totals_from_the_raw_claims() {
    let app = TestApp::spawn();
    let out = app.dayops(&["demo"]);
    assert!(out.status.success(), "{out:?}");
    // Riverside: four-weekly from 31 March 2025 (that first period starts in FY 2024).
    let four_weekly: Vec<NaiveDate> = (0..13)
        .map(|i| d("2025-03-31") + Days::new(28 * i))
        .collect();
    let riverside = script_year(
        &app,
        "NCC-DO-2023-001",
        d("2025-03-31"),
        d("2026-03-23"),
        &four_weekly,
    );
    // Hollybank: monthly, April to February (its registers run to the end of February).
    let monthly: Vec<NaiveDate> = (4..=14)
        .map(|m| {
            NaiveDate::from_ymd_opt(2025 + (m - 1) / 12, ((m - 1) % 12 + 1) as u32, 1).unwrap()
        })
        .collect();
    let hollybank = script_year(
        &app,
        "NCC-DO-2024-003",
        d("2025-03-31"),
        d("2026-03-02"),
        &monthly,
    );

    let report = app.get("/v1/reports/spend?financial_year=2025", &app.auditor());
    report.expect(200);
    assert_eq!(report.body["period_start"], "2025-04-01");
    let rows = report.body["items"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        4,
        "every demo contract in force, with or without claims"
    );
    for row in rows {
        let contract = row["contract_id"].as_str().unwrap();
        let expected = expected_spend(&app, contract);
        let bands: BTreeMap<String, i64> = row["by_need_band"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["need_band"].as_str().unwrap().to_string(),
                    b["amount_pence"].as_i64().unwrap(),
                )
            })
            .filter(|(_, v)| *v != 0)
            .collect();
        let found = Expected {
            approved: row["approved_pence"].as_i64().unwrap(),
            paid: row["paid_pence"].as_i64().unwrap(),
            pending: row["pending_pence"].as_i64().unwrap(),
            forecast: row["forecast_pence"].as_i64().unwrap(),
            bands,
        };
        assert_eq!(found, expected, "{}", row["contract_reference"]);
        assert_eq!(
            row["variance_pence"].as_i64().unwrap(),
            found.forecast - row["budget_pence"].as_i64().unwrap()
        );
        let shares: f64 = row["by_need_band"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["share_pct"].as_f64().unwrap())
            .sum();
        if contract == riverside || contract == hollybank {
            assert!(
                found.approved > 0 && found.paid > 0 && found.pending > 0,
                "{row}"
            );
            assert!(found.bands.len() >= 2, "spend across bands: {row}");
            assert!((shares - 100.0).abs() < 0.05, "{shares}");
        } else {
            assert_eq!((found.approved, found.pending, found.forecast), (0, 0, 0));
        }
    }

    // A provider sees its own contract only; CSV holds the same rows.
    let (_, provider) = demo_contract(&app, "NCC-DO-2023-001");
    let own = app.get(
        "/v1/reports/spend?financial_year=2025",
        &app.provider(&provider),
    );
    let own_rows = own.body["items"].as_array().unwrap();
    assert_eq!(own_rows.len(), 1);
    assert_eq!(own_rows[0]["contract_id"], riverside.as_str());
    let csv = app.request_with(
        "GET",
        "/v1/reports/spend?financial_year=2025",
        Some(&app.auditor()),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    assert!(csv.content_type.starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(csv.bytes.as_slice());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows.len());
    for (record, row) in records.iter().zip(rows) {
        assert_eq!(&record[0], row["contract_id"].as_str().unwrap());
        assert_eq!(
            record[4].parse::<i64>().unwrap(),
            row["approved_pence"].as_i64().unwrap()
        );
        assert_eq!(
            record[7].parse::<i64>().unwrap(),
            row["forecast_pence"].as_i64().unwrap()
        );
    }
    let r = app.get("/v1/reports/spend?financial_year=25000", &app.auditor());
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/financial_year"]);
}
