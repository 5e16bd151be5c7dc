//! A person's timeline across providers: placements, attendance by week, priced claim
//! lines with their payment, and workbook outcomes, for commissioners and auditors only.

use chrono::Days;
use serde_json::{json, Value};

use crate::support::{day, last_week, Fixture, TestApp};

#[test]
fn a_persons_history_across_two_providers() {
    let app = TestApp::spawn();
    let monday = last_week();
    let first = Fixture::new(&app, "TL1");
    let person = first.p1.clone();
    // The same person is placed with a second provider too, on Thursdays.
    let second = Fixture::new(&app, "TL2");
    app.put(
        &format!("/v1/contracts/{}/agreements", second.contract),
        &app.commissioner(),
        &json!({"agreements": [{"person_ref": person, "need_bands": [{"from": "2025-01-06", "band": "low"}, {"from": "2026-01-05", "band": "high"}],
            "planned_sessions": [{"weekday": "thursday", "session_type": "am"}], "start_date": "2025-01-06", "pathway": "therapeutic",
            "primary_support_reason": "autism", "funding": "direct_payment"}]}),
    )
    .expect(200);

    // Two weeks at the first provider (an absence in the second); one at the second.
    first
        .post(&app, &first.register(monday - Days::new(7)))
        .expect(201);
    let mut absent = first.register(monday);
    absent["lines"][1] = json!({"person_ref": person, "date": day(monday, 2), "session_type": "full_day",
        "status": "absent", "absence_reason": "illness", "notice_hours": 2});
    first.post(&app, &absent).expect(201);
    let thursday = json!({"contract_id": second.contract, "period_start": monday, "period_end": day(monday, 6), "lines": [
        {"person_ref": person, "date": day(monday, 3), "session_type": "am", "status": "attended", "community_access": true, "outcome_tags": ["social_inclusion"]},
        {"person_ref": second.p2, "date": day(monday, 1), "session_type": "pm", "status": "attended", "outcome_tags": ["wellbeing"]},
        {"person_ref": second.p1, "date": day(monday, 0), "session_type": "am", "status": "attended", "outcome_tags": ["wellbeing"]},
        {"person_ref": second.p1, "date": day(monday, 2), "session_type": "full_day", "status": "attended"},
    ]});
    second.post(&app, &thursday).expect(201);
    // The first week's claim is approved and paid.
    let claim = first.submit_drafted_claim(&app, monday - Days::new(7));
    app.approve_and_pay(&claim, "REM-TL-1");

    let auditor = app.auditor();
    let r = app.get(&format!("/v1/people/{person}"), &auditor);
    r.expect(200);
    let t = &r.body;
    assert_eq!(t["person_ref"], person.as_str());
    let placements = t["placements"].as_array().unwrap();
    assert_eq!(placements.len(), 2);
    assert_eq!(placements[1]["contract_id"], second.contract.as_str());
    assert_eq!(placements[1]["need_bands"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            placements[1]["funding"].clone(),
            placements[1]["primary_support_reason"].clone()
        ),
        (json!("direct_payment"), json!("autism"))
    );

    // Weeks in date order, across both providers.
    let weeks: Vec<(String, String, i64, usize)> = t["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["week_start"].as_str().unwrap().to_string(),
                w["provider_id"].as_str().unwrap().to_string(),
                w["sessions_attended"].as_i64().unwrap(),
                w["absences"].as_array().unwrap().len(),
            )
        })
        .collect();
    let earlier = (monday - Days::new(7)).to_string();
    let mut expected = vec![
        (earlier, first.provider.clone(), 2, 0),
        (monday.to_string(), first.provider.clone(), 1, 1),
        (monday.to_string(), second.provider.clone(), 1, 0),
    ];
    expected.sort();
    let mut sorted = weeks.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    let at_second = t["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["provider_id"] == second.provider.as_str())
        .unwrap();
    assert_eq!(at_second["sessions_in_community"], 1);
    assert_eq!(at_second["outcome_tags"], json!(["social_inclusion"]));
    let absence = &t["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["absences"] != json!([]))
        .unwrap()["absences"][0];
    assert_eq!(
        (
            absence["absence_reason"].clone(),
            absence["notice_hours"].clone()
        ),
        (json!("illness"), json!(2))
    );

    // The paid claim's lines of the person, with the payment.
    let lines = t["claim_lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["claim_id"] == claim.as_str()
        && l["claim_status"] == "paid"
        && l["remittance_ref"] == "REM-TL-1"));
    let dates: Vec<&str> = lines.iter().map(|l| l["date"].as_str().unwrap()).collect();
    let mut in_order = dates.clone();
    in_order.sort();
    assert_eq!(dates, in_order);
    assert_eq!(t["outcomes"], json!([]));

    // A period before any of it holds the placements only; CSV interleaves by date.
    let r = app.get(
        &format!("/v1/people/{person}?period_to=2025-01-31"),
        &auditor,
    );
    assert_eq!(r.body["attendance"], json!([]));
    assert_eq!(r.body["placements"].as_array().unwrap().len(), 2);
    let csv = app.request_with(
        "GET",
        &format!("/v1/people/{person}"),
        Some(&auditor),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    let records = csv.csv_records();
    let dates: Vec<String> = records.iter().map(|r| r[0].to_string()).collect();
    let mut in_order = dates.clone();
    in_order.sort();
    assert_eq!(dates, in_order);
    let kinds: Vec<&str> = records.iter().map(|r| r.get(1).unwrap()).collect();
    for kind in [
        "placement_started",
        "band_assessed",
        "attendance_week",
        "absence",
        "claim_line",
    ] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }

    // Providers may not; an unknown person is not found.
    app.get(&format!("/v1/people/{person}"), &first.token)
        .expect(403);
    app.get(&format!("/v1/people/{person}"), &app.commissioner())
        .expect(200);
    app.get("/v1/people/NOBODY-1", &auditor).expect(404);
}

/// Outcomes a workbook records for a person appear on their timeline, in the workbook's
/// order, and no one else's.
#[test]
fn workbook_outcomes_on_the_timeline() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "TLW");
    let quarter = dayops_domain::workbook::Quarter {
        year: 2025,
        number: 1,
    };
    let mut workbook = crate::workbooks::workbook(&fx, quarter);
    workbook["person_outcomes"] = json!([
        {"person_ref": fx.p1, "domain": "wellbeing", "status": "progressing"},
        {"person_ref": fx.p2, "domain": "independence", "status": "achieved"},
        {"person_ref": fx.p1, "domain": "life_goals", "status": "not_started"}
    ]);
    let r = app.request_with(
        "POST",
        "/v1/workbooks",
        Some(&fx.token),
        Some(("application/json", workbook.to_string().into_bytes())),
        &[("Idempotency-Key", "tl-workbook-1")],
    );
    r.expect(201);
    let id = r.body["id"].as_str().unwrap().to_string();
    let outcomes = app
        .get(&format!("/v1/people/{}", fx.p1), &app.auditor())
        .body["outcomes"]
        .clone();
    let found: Vec<(Value, Value, Value)> = outcomes
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["quarter"].clone(),
                o["domain"].clone(),
                o["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (json!("2025-Q1"), json!("wellbeing"), json!("progressing")),
            (json!("2025-Q1"), json!("life_goals"), json!("not_started")),
        ]
    );
    assert!(outcomes
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["workbook_id"] == id.as_str()));
}

/// The migration that keeps outcomes as rows fills them from the workbooks stored before
/// it: run again on emptied rows, its statement rebuilds exactly what the API wrote.
#[test]
fn the_migration_fills_outcomes_of_earlier_workbooks() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "TLM");
    let workbook = json!({
        "contract_id": fx.contract, "quarter": "2025-Q2", "template_version": "2025.1",
        "measures": {"people_supported": 2},
        "person_outcomes": [
            {"person_ref": fx.p2, "domain": "independence", "status": "achieved"},
            {"person_ref": fx.p1, "domain": "wellbeing", "status": "declined"}
        ]
    });
    app.request_with(
        "POST",
        "/v1/workbooks",
        Some(&fx.token),
        Some(("application/json", workbook.to_string().into_bytes())),
        &[("Idempotency-Key", "tl-migration-1")],
    )
    .expect(201);
    let before = app
        .get(&format!("/v1/people/{}", fx.p1), &app.auditor())
        .body["outcomes"]
        .clone();
    assert_eq!(before.as_array().unwrap().len(), 1);
    app.refill_as_migrated(
        "2026-12-03-000014_person_timeline",
        "workbook_person_outcomes",
    );
    let after = app
        .get(&format!("/v1/people/{}", fx.p1), &app.auditor())
        .body["outcomes"]
        .clone();
    assert_eq!(after, before);
    let other = app
        .get(&format!("/v1/people/{}", fx.p2), &app.auditor())
        .body["outcomes"]
        .clone();
    assert_eq!(other[0]["domain"], "independence");
}
