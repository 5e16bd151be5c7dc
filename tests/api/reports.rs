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
    script_contract(
        app,
        &contract,
        &provider,
        first_monday,
        last_monday,
        period_starts,
    );
    contract
}

/// [`script_year`] on any contract.
fn script_contract(
    app: &TestApp,
    contract: &str,
    provider: &str,
    first_monday: NaiveDate,
    last_monday: NaiveDate,
    period_starts: &[NaiveDate],
) {
    let token = app.provider(provider);
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
            &week_register(contract, &agreements, monday),
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
}

#[derive(Debug, Default, PartialEq)]
struct Expected {
    approved: i64,
    paid: i64,
    pending: i64,
    forecast: i64,
    bands: BTreeMap<String, i64>,
}

/// The spend of a contract in financial year `year`, from its claims as the API returns
/// them: every line in the year of its service date, whatever the claim's period.
fn expected_spend(app: &TestApp, contract: &str, year: i32) -> Expected {
    let fy_start = NaiveDate::from_ymd_opt(year, 4, 1).unwrap();
    let fy_end = NaiveDate::from_ymd_opt(year + 1, 3, 31).unwrap();
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
        let status = claim.body["status"].as_str().unwrap();
        if !matches!(
            status,
            "paid"
                | "approved"
                | "needs_adjustment"
                | "accepted"
                | "accepted_with_warnings"
                | "partially_accepted"
        ) {
            continue;
        }
        let mut in_year = false;
        for line in claim.body["lines"].as_array().unwrap() {
            let date = d(line["date"].as_str().unwrap());
            if date < fy_start || date > fy_end {
                continue;
            }
            in_year = true;
            let amount = line["accepted_amount_pence"].as_i64().unwrap();
            match status {
                "paid" => {
                    e.approved += amount;
                    e.paid += amount;
                }
                "approved" | "needs_adjustment" => e.approved += amount,
                _ => e.pending += amount,
            }
            let band = line["accepted_need_band"]
                .as_str()
                .or(line["need_band"].as_str())
                .unwrap();
            *e.bands.entry(band.to_string()).or_default() += amount;
        }
        if in_year {
            let end = d(claim.body["period_end"].as_str().unwrap());
            covered_to = Some(covered_to.map_or(end, |c| c.max(end)));
        }
    }
    e.bands.retain(|_, v| *v != 0);
    if let Some(to) = covered_to {
        let days = (to.min(fy_end) - fy_start).num_days() + 1;
        let committed = (e.approved + e.pending) as f64;
        let year_days = (fy_end - fy_start).num_days() + 1;
        e.forecast = (committed * year_days as f64 / days as f64).round() as i64;
    }
    e
}

/// The report's figures of one row, in the shape of [`Expected`].
fn found_spend(row: &Value) -> Expected {
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
    Expected {
        approved: row["approved_pence"].as_i64().unwrap(),
        paid: row["paid_pence"].as_i64().unwrap(),
        pending: row["pending_pence"].as_i64().unwrap(),
        forecast: row["forecast_pence"].as_i64().unwrap(),
        bands,
    }
}

#[test]
fn spend_matches_totals_from_the_raw_claims() {
    let app = TestApp::spawn();
    let out = app.dayops(&["demo"]);
    assert!(out.status.success(), "{out:?}");
    // Riverside: four-weekly from 31 March 2025 (that first period starts in FY 2024) to
    // the period of 30 March to 26 April 2026, which crosses into FY 2026.
    let four_weekly: Vec<NaiveDate> = (0..14)
        .map(|i| d("2025-03-31") + Days::new(28 * i))
        .collect();
    let riverside = script_year(
        &app,
        "NCC-DO-2023-001",
        d("2025-03-31"),
        d("2026-04-13"),
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
        let found = found_spend(row);
        assert_eq!(
            found,
            expected_spend(&app, contract, 2025),
            "{}",
            row["contract_reference"]
        );
        assert_eq!(
            row["variance_pence"].as_i64().unwrap(),
            found.forecast - row["budget_pence"].as_i64().unwrap()
        );
        // The months, April to March, add up to the year.
        let months = row["by_month"].as_array().unwrap();
        assert_eq!(months.len(), 12);
        assert_eq!(
            (months[0]["month"].as_str(), months[11]["month"].as_str()),
            (Some("2025-04"), Some("2026-03"))
        );
        for (field, total) in [
            ("approved_pence", found.approved),
            ("paid_pence", found.paid),
            ("pending_pence", found.pending),
        ] {
            let sum: i64 = months.iter().map(|m| m[field].as_i64().unwrap()).sum();
            assert_eq!(sum, total, "{field}");
        }
        if let Some(to) = row["claimed_to"].as_str() {
            assert!(d(to) <= d("2026-03-31"), "{row}");
        }
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

    // The claims that cross 31 March are split by service date: each year's report matches
    // its own lines, and the three years add up to every claim's accepted total.
    let riverside_in = |year: i32| {
        let r = app.get(
            &format!("/v1/reports/spend?financial_year={year}"),
            &app.auditor(),
        );
        let row = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["contract_id"] == riverside.as_str())
            .unwrap()
            .clone();
        let found = found_spend(&row);
        assert_eq!(found, expected_spend(&app, &riverside, year), "{year}");
        (row, found)
    };
    let (row_2024, y2024) = riverside_in(2024);
    let (row_2026, y2026) = riverside_in(2026);
    let y2025 = found_spend(
        rows.iter()
            .find(|r| r["contract_id"] == riverside.as_str())
            .unwrap(),
    );
    assert!(
        y2026.approved + y2026.pending > 0,
        "1 to 19 April 2026, from the claim of 30 March to 26 April: {row_2026}"
    );
    // No agreement of the demo starts before 1 April 2025: FY 2024 has nothing.
    assert_eq!(row_2024["approved_pence"], 0);
    assert_eq!(row_2026["claimed_to"], "2026-04-26");
    let claims = app.get(
        &format!("/v1/claims?contract_id={riverside}&limit=500"),
        &app.auditor(),
    );
    let counted: i64 = claims.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !matches!(c["status"].as_str(), Some("rejected" | "declined")))
        .map(|c| {
            let claim = app.get(
                &format!("/v1/claims/{}", c["id"].as_str().unwrap()),
                &app.auditor(),
            );
            claim.body["accepted_total_pence"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(
        y2024.approved
            + y2024.pending
            + y2025.approved
            + y2025.pending
            + y2026.approved
            + y2026.pending,
        counted
    );

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

/// Budgets are per financial year: a year without its own budget falls back to the annual
/// budget, and with neither reports none (never another year's).
#[test]
fn budgets_are_per_financial_year() {
    let app = TestApp::spawn();
    let provider = app.create_provider("Budgeted Day Services");
    let contract = app.create_contract(&provider, "NCC-DO-BUDGET");
    let c = app.commissioner();
    let patched = app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"annual_budget_pence": null, "budgets": [{"financial_year": 2026, "budget_pence": 7_060_000}]}),
    );
    patched.expect(200);
    assert_eq!(patched.body["annual_budget_pence"], Value::Null);
    let budget_in = |year: i32| {
        let r = app.get(&format!("/v1/reports/spend?financial_year={year}"), &c);
        r.expect(200);
        let row = r.body["items"][0].clone();
        (row["budget_pence"].clone(), row["variance_pence"].clone())
    };
    assert_eq!(budget_in(2026), (json!(7_060_000), json!(-7_060_000)));
    assert_eq!(budget_in(2025), (Value::Null, Value::Null));
    assert_eq!(budget_in(2027), (Value::Null, Value::Null));
    app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"annual_budget_pence": 100}),
    )
    .expect(200);
    assert_eq!(budget_in(2027), (json!(100), json!(-100)));
    assert_eq!(budget_in(2026), (json!(7_060_000), json!(-7_060_000)));
    let r = app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"budgets": [{"financial_year": 2026, "budget_pence": 1}, {"financial_year": 2026, "budget_pence": 2}]}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/budgets/1/financial_year"]);
}

/// The reviews report lists placements in force past a time limit, at the boundary
/// exactly as REG-013 and AGR-007 draw it, with the latest attendance behind each.
#[test]
fn reviews_list_overdue_reviews_and_enablement_past_its_weeks() {
    use crate::support::{day, last_week, Fixture};
    let app = TestApp::spawn();
    let monday = last_week();
    let as_of = monday + Days::new(6);
    let due = |days_before: u64| json!(as_of - Days::new(days_before));

    // Overdue by 29 days; enabling since January 2025, past its weeks.
    let late = Fixture::new(&app, "RVW");
    let mut p1 = late.agreement_terms(&app, &late.p1);
    p1["care_plan_review_due"] = due(29);
    let mut p2 = late.agreement_terms(&app, &late.p2);
    p2["pathway"] = json!("enabling");
    late.replace_agreements(&app, vec![p1, p2]);
    keyed_post(&app, "/v1/registers", &late.token, &late.register(monday)).expect(201);

    // Due exactly 28 days ago (still within); enabling, but ended when its weeks did.
    let on_time = Fixture::new(&app, "RVX");
    let mut p1 = on_time.agreement_terms(&app, &on_time.p1);
    p1["care_plan_review_due"] = due(28);
    let mut p2 = on_time.agreement_terms(&app, &on_time.p2);
    p2["pathway"] = json!("enabling");
    p2["end_date"] = json!("2025-03-31");
    on_time.replace_agreements(&app, vec![p1, p2]);

    let path = format!("/v1/reports/reviews?as_of={as_of}");
    let report = app.get(&path, &app.commissioner());
    report.expect(200);
    assert_eq!(report.body["as_of"], as_of.to_string());
    let items = report.body["items"].as_array().unwrap();
    let found: Vec<(&str, &str, &str, i64, Option<&str>)> = items
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap(),
                i["person_ref"].as_str().unwrap(),
                i["due"].as_str().unwrap(),
                i["days_over"].as_i64().unwrap(),
                i["last_attended"].as_str(),
            )
        })
        .collect();
    let review_due = (as_of - Days::new(29)).to_string();
    let ends = d("2025-01-06") + Days::new(84);
    let expected = [
        (
            "review_overdue",
            late.p1.as_str(),
            review_due.as_str(),
            29,
            Some(day(monday, 2)),
        ),
        (
            "enablement_overrun",
            late.p2.as_str(),
            "2025-03-31",
            (as_of - ends).num_days(),
            Some(day(monday, 1)),
        ),
    ];
    let expected: Vec<(&str, &str, &str, i64, Option<&str>)> = expected
        .iter()
        .map(|(k, p, d, n, l)| (*k, *p, *d, *n, l.as_deref()))
        .collect();
    assert_eq!(found, expected, "{}", report.text);
    assert!(items
        .iter()
        .all(|i| i["contract_id"] == late.contract.as_str()
            && i["provider_id"] == late.provider.as_str()));

    // Before the review's 28 days of grace ran out, only the enablement is listed.
    let earlier = as_of - Days::new(2);
    let r = app.get(
        &format!("/v1/reports/reviews?as_of={earlier}"),
        &app.auditor(),
    );
    let kinds: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["enablement_overrun"]);

    // Providers see their own placements; another provider's filter matches nothing.
    let own = app.get(&path, &late.token);
    assert_eq!(own.body["items"].as_array().unwrap().len(), 2);
    let theirs = app.get(&path, &on_time.token);
    assert_eq!(theirs.body["items"], json!([]));
    let asked = app.get(
        &format!("{path}&provider_id={}", late.provider),
        &on_time.token,
    );
    assert_eq!(asked.body["items"], json!([]));
    let by_contract = app.get(
        &format!("{path}&contract_id={}", on_time.contract),
        &app.commissioner(),
    );
    assert_eq!(by_contract.body["items"], json!([]));

    // The same rows as CSV.
    let csv = app.request_with(
        "GET",
        &path,
        Some(&app.auditor()),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    let records = csv.csv_records();
    assert_eq!(records.len(), 2);
    assert_eq!(&records[1][0], "enablement_overrun");
    assert_eq!(&records[1][6], late.p2.as_str());
}

/// A contract scripted through a year for budget monitoring: two rate versions (an uplift
/// on 1 October 2025), four people (one joining in July at complex need, one reassessed
/// from medium to high, one suspended in November, one leaving in August), thirteen weeks
/// of registers and claims, and a budget.
fn budget_contract(app: &TestApp) -> (String, String) {
    budget_contract_as(app, "Budget Monitoring Ltd", "NCC-BM-1", "BM")
}

/// The scripted contract under `reference`, for a provider of its own named `provider`,
/// its people's references starting `people`.
fn budget_contract_as(
    app: &TestApp,
    provider: &str,
    reference: &str,
    people: &str,
) -> (String, String) {
    let c = app.commissioner();
    let provider = app.create_provider(provider);
    let mut body = crate::support::contract_body(&provider, reference);
    body["start_date"] = json!("2025-01-06");
    body["budgets"] = json!([{"financial_year": 2025, "budget_pence": 2_000_000}]);
    body["closure_dates"] = json!(["2025-12-29"]);
    let r = app.post("/v1/contracts", &c, &body);
    r.expect(201);
    let contract = r.body["id"].as_str().unwrap().to_string();
    let cells = |session: [i64; 5], extras: [i64; 3]| {
        let mut cells = vec![
            json!({"item": "session", "need_band": "*", "session_type": "am", "day_category": "any", "rate_pence": session[0]}),
            json!({"item": "session", "need_band": "*", "session_type": "pm", "day_category": "any", "rate_pence": session[1]}),
            json!({"item": "session", "need_band": "*", "session_type": "full_day", "day_category": "any", "rate_pence": session[2]}),
            json!({"item": "session", "need_band": "high", "session_type": "pm", "day_category": "any", "rate_pence": session[3]}),
            json!({"item": "session", "need_band": "complex", "session_type": "full_day", "day_category": "any", "rate_pence": session[4]}),
        ];
        for (item, pence) in ["one_to_one_hour", "transport_journey", "meal"]
            .iter()
            .zip(extras)
        {
            cells.push(
                json!({"item": item, "need_band": "*", "day_category": "any", "rate_pence": pence}),
            );
        }
        cells
    };
    let matrices = format!("/v1/contracts/{contract}/rate-matrices");
    app.post(
        &matrices,
        &c,
        &json!({"effective_from": "2025-01-06", "effective_to": "2025-09-30",
        "cells": cells([5000, 5000, 9000, 6500, 12000], [1800, 850, 450])}),
    )
    .expect(201);
    app.post(
        &matrices,
        &c,
        &json!({"effective_from": "2025-10-01",
        "cells": cells([5200, 5200, 9360, 6760, 12480], [1872, 884, 468])}),
    )
    .expect(201);
    let session = |weekday: &str, session_type: &str| json!({"weekday": weekday, "session_type": session_type});
    app.put(
        &format!("/v1/contracts/{contract}/agreements"),
        &c,
        &json!({"agreements": [
            {"person_ref": format!("{people}-A"), "need_bands": [{"from": "2025-01-06", "band": "medium"}],
             "planned_sessions": [session("monday", "am"), session("wednesday", "full_day")],
             "one_to_one_hours_per_week": 2.0, "transport_journeys_per_week": 4, "meals": 2,
             "start_date": "2025-01-06", "pathway": "therapeutic",
             "primary_support_reason": "learning_disability"},
            {"person_ref": format!("{people}-B"), "need_bands": [{"from": "2025-01-06", "band": "high"}],
             "planned_sessions": [session("tuesday", "pm"), session("thursday", "pm")],
             "transport_journeys_per_week": 2,
             "suspensions": [{"from": "2025-11-03", "to": "2025-11-16", "reason": "hospital admission"}],
             "start_date": "2025-01-06", "pathway": "therapeutic", "funding": "individual_service_fund"},
            {"person_ref": format!("{people}-C"), "need_bands": [{"from": "2025-07-07", "band": "complex"}],
             "planned_sessions": [session("friday", "full_day")], "one_to_one_hours_per_week": 1.0,
             "start_date": "2025-07-07", "pathway": "therapeutic",
             "primary_support_reason": "autism", "funding": "direct_payment"},
            {"person_ref": format!("{people}-D"), "need_bands": [{"from": "2025-01-06", "band": "medium"}, {"from": "2025-05-05", "band": "high"}],
             "planned_sessions": [session("monday", "pm")],
             "start_date": "2025-01-06", "end_date": "2025-08-31", "pathway": "therapeutic",
             "primary_support_reason": "learning_disability"}
        ]}),
    )
    .expect(200);
    let weeks: Vec<NaiveDate> = (0..13)
        .map(|i| d("2025-03-31") + Days::new(7 * i))
        .collect();
    script_contract(app, &contract, &provider, weeks[0], weeks[12], &weeks);
    (contract, provider)
}

/// The figures of a budget monitoring row the tests compare, in this order.
const BUDGET_FIGURES: [&str; 9] = [
    "budget_pence",
    "actual_pence",
    "committed_pence",
    "forecast_pence",
    "variance_pence",
    "volume_variance_pence",
    "mix_variance_pence",
    "price_variance_pence",
    "people_at_baseline",
];

/// A budget monitoring row's [`BUDGET_FIGURES`] (`i64::MIN` for a null).
fn figures(row: &Value) -> Vec<i64> {
    BUDGET_FIGURES
        .iter()
        .map(|f| row[f].as_i64().unwrap_or(i64::MIN))
        .collect()
}

/// The rate of a cell of `versions` (as the API lists them) on `date`: the exact band
/// before `*` (every cell of the scripted contract is for any day).
fn rate_on(
    versions: &[Value],
    date: NaiveDate,
    item: &str,
    band: &str,
    session_type: Option<&str>,
) -> i64 {
    let version = versions
        .iter()
        .find(|v| in_range(date, &v["effective_from"], &v["effective_to"]))
        .unwrap();
    let cells = version["cells"].as_array().unwrap();
    let matches = |b: &str| {
        cells.iter().find(|c| {
            c["item"] == item && c["need_band"] == b && c["session_type"].as_str() == session_type
        })
    };
    matches(band).or_else(|| matches("*")).unwrap()["rate_pence"]
        .as_i64()
        .unwrap()
}

/// The band of an agreement (as the API gives it) on `date`.
fn band_on(agreement: &Value, date: NaiveDate) -> String {
    agreement["need_bands"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|b| d(b["from"].as_str().unwrap()) <= date)
        .unwrap()["band"]
        .as_str()
        .unwrap()
        .to_string()
}

fn funded(agreement: &Value, date: NaiveDate) -> bool {
    in_range(date, &agreement["start_date"], &agreement["end_date"])
        && !agreement["suspensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| in_range(date, &s["from"], &s["to"]))
}

/// Budget monitoring of the scripted year, recomputed here from the claims, agreements and
/// matrix the API holds, date by date.
#[test]
fn budget_monitoring_matches_an_independent_recomputation() {
    let app = TestApp::spawn();
    let (contract, provider) = budget_contract(&app);
    let auditor = app.auditor();
    let agreements = app
        .get(&format!("/v1/contracts/{contract}/agreements"), &auditor)
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    let versions = app
        .get(&format!("/v1/contracts/{contract}/rate-matrices"), &auditor)
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    let year_start = d("2025-04-01");
    let year_end = d("2026-03-31");
    let baseline = d("2025-03-31");
    let bank_holidays: Vec<NaiveDate> = [
        "2025-04-18",
        "2025-04-21",
        "2025-05-05",
        "2025-05-26",
        "2025-08-25",
        "2025-12-25",
        "2025-12-26",
        "2026-01-01",
    ]
    .iter()
    .map(|s| d(s))
    .collect();

    // Actuals and the last claimed day, from the claims themselves.
    let spend = expected_spend(&app, &contract, 2025);
    let actual = spend.approved + spend.pending;
    let claimed_to = d("2025-06-29");
    // Commitments: every planned session from the day after, at the rates and bands of
    // its date, with its share of the week's authorisations (these divide evenly).
    let mut committed = 0i64;
    let mut baseline_committed: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_cohort: BTreeMap<String, i64> = BTreeMap::new();
    let mut date = claimed_to + Days::new(1);
    while date <= year_end {
        let weekday = date.format("%A").to_string().to_lowercase();
        let open = !bank_holidays.contains(&date) && date != d("2025-12-29");
        for a in &agreements {
            let planned = a["planned_sessions"].as_array().unwrap();
            let n = planned.len() as i64;
            for p in planned.iter().filter(|p| p["weekday"] == weekday.as_str()) {
                if !open || !funded(a, date) {
                    continue;
                }
                let band = band_on(a, date);
                let price = |on: NaiveDate| {
                    let hours = a["one_to_one_hours_per_week"].as_f64().unwrap();
                    let journeys = a["transport_journeys_per_week"].as_i64().unwrap();
                    let meals = a["meals"].as_i64().unwrap();
                    rate_on(&versions, on, "session", &band, p["session_type"].as_str())
                        + (hours as i64) * rate_on(&versions, on, "one_to_one_hour", &band, None)
                            / n
                        + journeys * rate_on(&versions, on, "transport_journey", &band, None) / n
                        + meals * rate_on(&versions, on, "meal", &band, None) / n
                };
                committed += price(date);
                *baseline_committed.entry(band.clone()).or_default() += price(baseline);
                *by_cohort
                    .entry(a["funding"].as_str().unwrap().to_string())
                    .or_default() += price(date);
            }
        }
        date = date + Days::new(1);
    }
    assert!(committed > 0);
    let forecast = actual + committed;
    // Price: the actuals were all priced under the baseline version; the commitments
    // from October under the uplift.
    let f0: i64 = actual + baseline_committed.values().sum::<i64>();
    let mut baseline_priced = spend.bands.clone();
    for (band, pence) in &baseline_committed {
        *baseline_priced.entry(band.clone()).or_default() += pence;
    }
    // Volume and mix: person-days funded by band, and the caseload of 31 March 2025.
    let mut days: BTreeMap<String, i64> = BTreeMap::new();
    let mut at_baseline: BTreeMap<String, i64> = BTreeMap::new();
    for a in &agreements {
        let mut date = year_start;
        while date <= year_end {
            if funded(a, date) {
                *days.entry(band_on(a, date)).or_default() += 1;
            }
            date = date + Days::new(1);
        }
        if funded(a, baseline) {
            *at_baseline.entry(band_on(a, baseline)).or_default() += 1;
        }
    }
    let total_days: i64 = days.values().sum();
    let people: i64 = days
        .keys()
        .map(|b| at_baseline.get(b).copied().unwrap_or(0))
        .sum();
    let per_day: f64 = days
        .iter()
        .map(|(b, d)| {
            at_baseline.get(b).copied().unwrap_or(0) as f64 / people as f64
                * baseline_priced[b] as f64
                / *d as f64
        })
        .sum();
    let flexed = (per_day * total_days as f64).round() as i64;
    let budget = 2_000_000i64;

    let report = app.get("/v1/reports/budget?financial_year=2025", &auditor);
    report.expect(200);
    let items = report.body["items"].as_array().unwrap();
    let row = |scope: &str, key: &str| {
        items
            .iter()
            .find(|r| r["scope"] == scope && r["key"] == key)
            .unwrap_or_else(|| panic!("{scope} {key}: {}", report.text))
            .clone()
    };
    let expected = vec![
        budget,
        actual,
        committed,
        forecast,
        forecast - budget,
        flexed - budget,
        f0 - flexed,
        forecast - f0,
        3,
    ];
    let contract_row = row("contract", "NCC-BM-1");
    assert_eq!(figures(&contract_row), expected, "{contract_row}");
    assert_eq!(contract_row["actual_to"], claimed_to.to_string());
    assert_eq!(
        contract_row["funded_person_years"].as_f64().unwrap(),
        (total_days as f64 * 100.0 / 365.0).round() / 100.0
    );
    // The uplift costs money, the complex newcomer is mix and volume.
    assert!(contract_row["price_variance_pence"].as_i64().unwrap() > 0);
    assert_ne!(contract_row["mix_variance_pence"].as_i64().unwrap(), 0);
    // Periods: actuals and commitments by month, adding up to the year.
    let periods = contract_row["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 12);
    assert_eq!(
        (periods[0]["period"].clone(), periods[0]["month"].clone()),
        (json!(1), json!("2025-04"))
    );
    let sum = |field: &str| {
        periods
            .iter()
            .map(|p| p[field].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(
        (sum("actual_pence"), sum("committed_pence")),
        (actual, committed)
    );
    assert_eq!(periods[3]["actual_pence"], 0, "nothing claimed for July");
    assert!(
        periods[0]["committed_pence"] == 0 && periods[6]["committed_pence"].as_i64().unwrap() > 0
    );
    // The run-rate beside it is the spend report's forecast.
    let spend_row = app
        .get("/v1/reports/spend?financial_year=2025", &auditor)
        .body["items"][0]
        .clone();
    assert_eq!(
        contract_row["run_rate_forecast_pence"],
        spend_row["forecast_pence"]
    );

    // One contract: its service type and the council are the same figures.
    assert_eq!(figures(&row("service_type", "building_based")), expected);
    assert_eq!(figures(&row("council", "council")), expected);
    // Cohorts share out the forecast, and the commitments by funding match.
    for scope in ["primary_support_reason", "funding"] {
        let total: i64 = items
            .iter()
            .filter(|r| r["scope"] == scope)
            .map(|r| r["forecast_pence"].as_i64().unwrap())
            .sum();
        assert_eq!(total, forecast, "{scope}");
    }
    for (funding, pence) in &by_cohort {
        assert_eq!(
            row("funding", funding)["committed_pence"],
            *pence,
            "{funding}"
        );
    }
    assert_eq!(
        row("primary_support_reason", "not_recorded")["budget_pence"],
        Value::Null
    );

    // A provider sees its own; CSV holds the same rows.
    let own = app.get(
        "/v1/reports/budget?financial_year=2025",
        &app.provider(&provider),
    );
    assert_eq!(own.body["items"], report.body["items"]);
    let other = app.create_provider("Someone Else");
    let theirs = app.get(
        "/v1/reports/budget?financial_year=2025",
        &app.provider(&other),
    );
    assert!(theirs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["scope"] != "contract" && r["forecast_pence"] == 0));
    let csv = app.request_with(
        "GET",
        "/v1/reports/budget?financial_year=2025",
        Some(&auditor),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    let records = csv.csv_records();
    assert_eq!(records.len(), items.len());
    assert_eq!((&records[0][0], &records[0][1]), ("contract", "NCC-BM-1"));
    assert_eq!(records[0][8].parse::<i64>().unwrap(), forecast);
    let r = app.get("/v1/reports/budget?financial_year=1999", &auditor);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/financial_year"]);
}

/// The council's report is read and priced in shards of contracts, by id range, each on a
/// connection of its own: each contract's row is the same as in its provider's own report
/// (read by name), the three scripted alike have the same figures, and the council's row
/// is their sum.
#[test]
fn budget_monitoring_prices_each_contract_alike_in_the_councils_report_and_its_providers() {
    let app = TestApp::spawn();
    let scripted: Vec<(String, String)> = (1..=3)
        .map(|i| {
            budget_contract_as(
                &app,
                &format!("Budget Monitoring {i} Ltd"),
                &format!("NCC-BM-{i}"),
                &format!("BM{i}"),
            )
        })
        .collect();
    let path = "/v1/reports/budget?financial_year=2025";
    let council = app.get(path, &app.auditor());
    council.expect(200);
    let items = council.body["items"].as_array().unwrap();
    let contract_rows: Vec<&Value> = items.iter().filter(|r| r["scope"] == "contract").collect();
    assert_eq!(contract_rows.len(), 3, "{}", council.text);
    for (contract, provider) in &scripted {
        let row = contract_rows
            .iter()
            .find(|r| r["contract_id"] == contract.as_str())
            .unwrap();
        let own = app.get(path, &app.provider(provider));
        own.expect(200);
        assert_eq!(&own.body["items"][0], *row, "{contract}");
        assert_eq!(figures(row), figures(contract_rows[0]), "{contract}");
        assert!(row["committed_pence"].as_i64().unwrap() > 0);
    }
    let council_row = items.iter().find(|r| r["scope"] == "council").unwrap();
    let summed: Vec<i64> = (0..BUDGET_FIGURES.len())
        .map(|i| contract_rows.iter().map(|r| figures(r)[i]).sum())
        .collect();
    assert_eq!(figures(council_row), summed);
}

/// Unit costs of the scripted year's first quarter, recomputed from the claims' lines:
/// sessions at the contract's lengths, cost per hour to the penny.
#[test]
fn unit_costs_match_the_claimed_lines() {
    let app = TestApp::spawn();
    let (contract, _) = budget_contract(&app);
    let auditor = app.auditor();
    let (from, to) = (d("2025-04-01"), d("2025-06-30"));
    let hours_of = |session_type: &str| match session_type {
        "am" | "pm" => 3.0,
        _ => 6.0,
    };
    let mut expected: BTreeMap<String, (f64, i64)> = BTreeMap::new();
    let claims = app.get(
        &format!("/v1/claims?contract_id={contract}&limit=500"),
        &auditor,
    );
    for summary in claims.body["items"].as_array().unwrap() {
        let claim = app.get(
            &format!("/v1/claims/{}", summary["id"].as_str().unwrap()),
            &auditor,
        );
        if matches!(claim.body["status"].as_str(), Some("rejected" | "declined")) {
            continue;
        }
        for line in claim.body["lines"].as_array().unwrap() {
            let date = d(line["date"].as_str().unwrap());
            if date < from || date > to {
                continue;
            }
            let band = line["accepted_need_band"].as_str().unwrap().to_string();
            let quantity = line["accepted_quantity"].as_f64().unwrap();
            let hours = match line["item"].as_str().unwrap() {
                "session" => quantity * hours_of(line["session_type"].as_str().unwrap()),
                "one_to_one_hour" => quantity,
                _ => 0.0,
            };
            let entry = expected.entry(band).or_default();
            entry.0 += hours;
            entry.1 += line["accepted_amount_pence"].as_i64().unwrap();
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");
    let report = app.get(
        &format!("/v1/reports/unit-costs?period_from={from}&period_to={to}"),
        &auditor,
    );
    report.expect(200);
    let items = report.body["items"].as_array().unwrap();
    let found: BTreeMap<String, (f64, i64)> = items
        .iter()
        .filter(|r| r["scope"] == "service_type_band")
        .map(|r| {
            assert_eq!(r["service_type"], "building_based");
            let (hours, cost) = (
                r["hours_delivered"].as_f64().unwrap(),
                r["cost_pence"].as_i64().unwrap(),
            );
            let per_hour = (cost as f64 / hours).round() as i64;
            assert_eq!(r["cost_per_hour_pence"], per_hour, "{r}");
            (r["need_band"].as_str().unwrap().to_string(), (hours, cost))
        })
        .collect();
    assert_eq!(found, expected);
    let council = items.iter().find(|r| r["scope"] == "council").unwrap();
    assert_eq!(
        council["cost_pence"].as_i64().unwrap(),
        expected.values().map(|(_, c)| c).sum::<i64>()
    );
    // The cohorts share out the same cost.
    for scope in ["primary_support_reason", "funding"] {
        let cost: i64 = items
            .iter()
            .filter(|r| r["scope"] == scope)
            .map(|r| r["cost_pence"].as_i64().unwrap())
            .sum();
        assert_eq!(cost, council["cost_pence"].as_i64().unwrap(), "{scope}");
    }
    let csv = app.request_with(
        "GET",
        &format!("/v1/reports/unit-costs?period_from={from}&period_to={to}"),
        Some(&auditor),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    assert_eq!(csv.csv_records().len(), items.len());
    // A period that ends before it starts holds nothing.
    let r = app.get(
        &format!("/v1/reports/unit-costs?period_from={to}&period_to={from}"),
        &auditor,
    );
    r.expect(200);
    assert_eq!(r.body["items"][0]["scope"], "council");
    assert_eq!(r.body["items"][0]["cost_pence"], 0);
}
