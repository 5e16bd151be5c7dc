//! Workbooks end to end (JSON): rules with pointers, KPI results stored with each version.

use chrono::Datelike;
use serde_json::{json, Value};

use dayops_domain::workbook::Quarter;

use crate::support::{findings, Fixture, TestApp};

/// The last financial quarter that has ended, and a Monday in it.
fn ended_quarter() -> (Quarter, chrono::NaiveDate) {
    let today = chrono::Utc::now().date_naive();
    let mut q = Quarter {
        year: today.year() - 1,
        number: 1,
    };
    loop {
        let next = if q.number == 4 {
            Quarter {
                year: q.year + 1,
                number: 1,
            }
        } else {
            Quarter {
                year: q.year,
                number: q.number + 1,
            }
        };
        if next.end() >= today {
            break;
        }
        q = next;
    }
    let start = q.start();
    let monday =
        start + chrono::Days::new(u64::from((7 - start.weekday().num_days_from_monday()) % 7));
    (q, monday)
}

fn workbook(fx: &Fixture, quarter: Quarter) -> Value {
    json!({
        "contract_id": fx.contract,
        "quarter": quarter.to_string(),
        "template_version": "2025.1",
        "measures": {
            "people_supported": 2, "people_moved_on": 0, "people_accessing_community_weekly": 2,
            "people_reporting_social_inclusion": 1, "people_reporting_independence": 1,
            "people_accessing_health_activities_weekly": 1, "people_in_employment_volunteering_education": 0,
            "care_plans_up_to_date": 2, "staff_headcount": 6, "staff_fte": 4.5, "staff_leavers": 1,
            "volunteers": 3, "safeguarding_concerns": 0, "complaints": 0, "compliments": 4
        },
        "person_outcomes": [
            {"person_ref": fx.p1, "domain": "wellbeing", "status": "progressing"},
            {"person_ref": fx.p2, "domain": "community_access", "status": "achieved"}
        ],
        "case_studies": [{"title": "Back to the allotment", "summary": "A member now leads the Tuesday group."}],
        "acknowledged_warnings": ["SUB-002"]
    })
}

fn post(app: &TestApp, fx: &Fixture, body: &Value) -> crate::support::Resp {
    app.request_with(
        "POST",
        "/v1/workbooks",
        Some(&fx.token),
        Some(("application/json", body.to_string().into_bytes())),
        &[("Idempotency-Key", &uuid::Uuid::new_v4().to_string())],
    )
}

fn setup(app: &TestApp, tag: &str) -> (Fixture, Quarter) {
    let fx = Fixture::new(app, tag);
    let (quarter, monday) = ended_quarter();
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &app.commissioner(),
        &json!({"kpi_targets": [{"code": "community_access_pct", "target": 80, "amber_below": 60}]}),
    )
    .expect(200);
    let r = fx.post(app, &fx.register(monday));
    assert_ne!(r.body["status"], "rejected", "{}", r.text);
    (fx, quarter)
}

#[test]
fn a_clean_return_is_accepted_with_its_kpis_stored() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WA");
    let r = post(&app, &fx, &workbook(&fx, quarter));
    r.expect(201);
    // Late (SUB-002), acknowledged: accepted, the warning kept in the report.
    assert_eq!(
        findings(&r),
        [(
            "SUB-002".to_string(),
            "warning".to_string(),
            "/quarter".to_string()
        )]
    );
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(
        r.body["kpis"],
        json!([{"code": "community_access_pct", "value": 100.0, "target": 80.0, "amber_below": 60.0, "rag": "green"}])
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    let read = app.get(&format!("/v1/workbooks/{id}"), &app.auditor());
    assert_eq!(read.body["kpis"], r.body["kpis"]);
    assert_eq!(read.body["measures"]["staff_fte"], json!(4.5));

    // An amendment with fewer people in the community: amber, stored as version 2.
    let mut amended = workbook(&fx, quarter);
    amended["measures"]["people_accessing_community_weekly"] = json!(1);
    amended["acknowledged_warnings"] = json!(["SUB-002", "WBK-004"]);
    let r = app.request_with(
        "PUT",
        &format!("/v1/workbooks/{id}"),
        Some(&fx.token),
        Some(("application/json", amended.to_string().into_bytes())),
        &[("If-Match", "\"v1\"")],
    );
    r.expect(200);
    assert_eq!(r.body["kpis"][0]["rag"], "red");
    assert_eq!(
        app.get(&format!("/v1/workbooks/{id}/versions/1"), &fx.token)
            .body["kpis"][0]["rag"],
        "green"
    );

    // A second return for the quarter is 409; another provider sees nothing.
    assert_eq!(post(&app, &fx, &workbook(&fx, quarter)).status, 409);
    let other = Fixture::new(&app, "WO");
    app.get(&format!("/v1/workbooks/{id}"), &other.token)
        .expect(404);
    assert_eq!(
        app.get("/v1/workbooks", &other.token).body["items"],
        json!([])
    );
}

#[test]
fn every_workbook_rule_with_its_pointer() {
    let app = TestApp::spawn();
    let (fx, quarter) = setup(&app, "WB");
    let mut bad = workbook(&fx, quarter);
    bad["template_version"] = json!("2024.2");
    bad["measures"]
        .as_object_mut()
        .unwrap()
        .remove("volunteers");
    bad["measures"]["staff_leavers"] = json!(7);
    bad["measures"]["people_supported"] = json!(9);
    bad["person_outcomes"][1]["person_ref"] = json!("STRANGER");
    bad["case_studies"][0]["summary"] = json!("Her NHS number 943 476 5919 was on the form");
    let r = post(&app, &fx, &bad);
    r.expect(201);
    assert_eq!(r.body["status"], "rejected");
    let f = |c: &str, s: &str, p: &str| (c.to_string(), s.to_string(), p.to_string());
    assert_eq!(
        findings(&r),
        [
            f("SUB-002", "warning", "/quarter"),
            f("WBK-007", "error", "/template_version"),
            f("WBK-001", "error", "/measures/volunteers"),
            f("WBK-002", "error", "/measures/staff_leavers"),
            f("WBK-003", "warning", "/measures/people_supported"),
            f("WBK-004", "warning", "/measures"),
            f("WBK-005", "error", "/person_outcomes/1/person_ref"),
            f("WBK-006", "warning", "/person_outcomes"),
            f("WBK-008", "warning", "/case_studies/0/summary"),
        ]
    );
    let messages = r.body["validation"]["findings"].to_string();
    assert!(
        !messages.contains("5919") && !messages.contains("943"),
        "the warning never echoes the number"
    );

    // A quarter that is not one is malformed: nothing to file it under.
    let mut malformed = workbook(&fx, quarter);
    malformed["quarter"] = json!("2025-Q7");
    let r = post(&app, &fx, &malformed);
    r.expect(422);
    assert_eq!(r.pointers(), ["/quarter"]);
}
