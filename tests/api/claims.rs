//! Claims end to end: priced by the matrix at the assessed band, checked against
//! registers and other claims, decided and paid.

use serde_json::{json, Value};

use crate::support::{day, findings, last_week, Fixture, TestApp};

fn f(code: &str, severity: &str, pointer: &str) -> (String, String, String) {
    (code.to_string(), severity.to_string(), pointer.to_string())
}

fn post_claim(app: &TestApp, fx: &Fixture, claim: &Value) -> crate::support::Resp {
    app.request_with(
        "POST",
        "/v1/claims",
        Some(&fx.token),
        Some(("application/json", claim.to_string().into_bytes())),
        &[("Idempotency-Key", &uuid::Uuid::new_v4().to_string())],
    )
}

fn draft(app: &TestApp, fx: &Fixture, monday: chrono::NaiveDate) -> Value {
    let r = app.request(
        "POST",
        &format!(
            "/v1/claims/draft?contract_id={}&period_start={monday}",
            fx.contract
        ),
        Some(&fx.token),
        None,
    );
    r.expect(200);
    r.body
}

/// The week's register, accepted, behind a fixture's claims.
fn with_register(app: &TestApp, tag: &str) -> (Fixture, chrono::NaiveDate) {
    let fx = Fixture::new(app, tag);
    let monday = last_week();
    let r = fx.post(app, &fx.register(monday));
    assert_eq!(r.body["status"], "accepted", "{}", r.text);
    (fx, monday)
}

#[test]
fn a_draft_submitted_unchanged_is_accepted_then_approved_and_paid() {
    let app = TestApp::spawn();
    let (fx, monday) = with_register(&app, "D");
    let claim = draft(&app, &fx, monday);
    // Sessions, one-to-one hours, journeys and the meal of the register, at matrix prices.
    assert_eq!(claim["lines"].as_array().unwrap().len(), 6, "{claim}");
    assert_eq!(
        claim["total_pence"],
        json!(5000 * 3 + 2 * 1800 + 2 * 850 + 450)
    );

    let r = post_claim(&app, &fx, &claim);
    r.expect(201);
    assert_eq!(r.body["status"], "accepted", "{}", r.text);
    assert_eq!(
        r.body["accepted_total_pence"],
        r.body["claimed_total_pence"]
    );
    assert_eq!(
        r.body["lines"][0]["accepted_amount_pence"],
        r.body["lines"][0]["amount_pence"]
    );
    let id = r.body["id"].as_str().unwrap().to_string();

    // Only commissioners decide and pay.
    let decision = json!({"decision": "approve", "reason": "matches the registers"});
    for token in [&fx.token, &app.auditor()] {
        app.post(&format!("/v1/claims/{id}/decision"), token, &decision)
            .expect(403);
        app.post(
            &format!("/v1/claims/{id}/payment"),
            token,
            &json!({"remittance_ref": "R1", "paid_on": "2026-01-01"}),
        )
        .expect(403);
    }
    let c = app.commissioner();
    // Paying before approval is an illegal transition.
    app.post(
        &format!("/v1/claims/{id}/payment"),
        &c,
        &json!({"remittance_ref": "R1", "paid_on": "2026-01-01"}),
    )
    .expect(409);
    let approved = app.post(&format!("/v1/claims/{id}/decision"), &c, &decision);
    approved.expect(200);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["decision"], "approve");
    app.post(&format!("/v1/claims/{id}/decision"), &c, &decision)
        .expect(409);
    let paid = app.post(
        &format!("/v1/claims/{id}/payment"),
        &c,
        &json!({"remittance_ref": "BACS-118", "paid_on": day(monday, 14)}),
    );
    paid.expect(200);
    assert_eq!(
        (
            paid.body["status"].clone(),
            paid.body["remittance_ref"].clone()
        ),
        (json!("paid"), json!("BACS-118"))
    );

    // A paid claim cannot be amended (SUB-005).
    let r = app.request_with(
        "PUT",
        &format!("/v1/claims/{id}"),
        Some(&fx.token),
        Some(("application/json", claim.to_string().into_bytes())),
        &[("If-Match", "\"v1\"")],
    );
    r.expect(409);
    assert!(r.body["detail"].as_str().unwrap().contains("SUB-005"));

    // Every transition is in the audit trail, with the priced lines behind the claim.
    app.sequenced();
    let events = app.get(
        &format!("/v1/audit-events?entity=claim&entity_id={id}"),
        &app.auditor(),
    );
    let actions: Vec<_> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["create", "validate", "price", "approve", "pay"]);
    assert_eq!(
        app.get("/v1/audit-events/verify", &app.auditor()).body["verified"],
        json!(true)
    );
}

#[test]
fn declined_claims_release_their_units_and_rejected_cannot_be_paid() {
    let app = TestApp::spawn();
    let (fx, monday) = with_register(&app, "R");
    let claim = draft(&app, &fx, monday);
    let id = post_claim(&app, &fx, &claim).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.commissioner();
    let declined = app.post(
        &format!("/v1/claims/{id}/decision"),
        &c,
        &json!({"decision": "reject", "reason": "duplicate invoice"}),
    );
    assert_eq!(declined.body["status"], "declined");
    app.post(
        &format!("/v1/claims/{id}/payment"),
        &c,
        &json!({"remittance_ref": "R", "paid_on": day(monday, 9)}),
    )
    .expect(409);
    // Once declined, its units may be claimed again (amended) without CLM-003.
    let r = app.request_with(
        "PUT",
        &format!("/v1/claims/{id}"),
        Some(&fx.token),
        Some(("application/json", claim.to_string().into_bytes())),
        &[("If-Match", "\"v1\"")],
    );
    r.expect(200);
    assert_eq!(r.body["status"], "accepted", "{}", r.text);
    app.post(
        &format!("/v1/claims/{id}/decision"),
        &c,
        &json!({"decision": "maybe", "reason": "x"}),
    )
    .expect(422);
    app.post(
        &format!("/v1/claims/{id}/decision"),
        &c,
        &json!({"decision": "approve", "reason": " "}),
    )
    .expect(422);
}

#[test]
fn pricing_follows_the_assessed_band() {
    let app = TestApp::spawn();
    let (fx, monday) = with_register(&app, "B");
    // P1 is reassessed as high from the start: the claim says medium at 5000.
    let mut agreement = json!({"person_ref": fx.p1, "need_bands": [{"from": "2025-01-06", "band": "high"}],
        "planned_sessions": [{"weekday": "monday", "session_type": "am"}, {"weekday": "wednesday", "session_type": "full_day"}],
        "one_to_one_hours_per_week": 2.0, "transport_journeys_per_week": 4, "start_date": "2025-01-06", "pathway": "therapeutic"});
    app.put(
        &format!("/v1/contracts/{}/agreements", fx.contract),
        &app.commissioner(),
        &json!({"agreements": [agreement.clone()]}),
    )
    .expect(200);
    agreement["person_ref"] = json!(fx.p2);
    let claim = json!({"contract_id": fx.contract, "period_start": monday.to_string(), "period_end": day(monday, 6), "total_pence": 5000,
        "lines": [{"person_ref": fx.p1, "date": day(monday, 0), "item": "session", "session_type": "am", "quantity": 1,
                   "need_band": "medium", "unit_price_pence": 5000, "amount_pence": 5000}]});
    let r = post_claim(&app, &fx, &claim);
    r.expect(201);
    assert_eq!(
        findings(&r),
        [
            f("RATE-003", "warning", "/lines/0/need_band"),
            f("RATE-002", "warning", "/lines/0/unit_price_pence")
        ]
    );
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(r.body["lines"][0]["accepted_unit_price_pence"], 6500);
    assert_eq!(
        (
            r.body["claimed_total_pence"].clone(),
            r.body["accepted_total_pence"].clone()
        ),
        (json!(5000), json!(6500))
    );
    assert_eq!(r.body["lines"][0]["findings"].as_array().unwrap().len(), 2);
    // Read back, each line keeps its own findings (stored beside it, not re-found from the
    // pointers), and the version's report still holds them all.
    let stored = app.get(
        &format!("/v1/claims/{}", r.body["id"].as_str().unwrap()),
        &fx.token,
    );
    assert_eq!(
        stored.body["lines"][0]["findings"],
        r.body["lines"][0]["findings"]
    );
    assert_eq!(findings(&stored), findings(&r));
}

type Mutation = fn(&Fixture, chrono::NaiveDate, &mut Value);
type Expected = Vec<(&'static str, &'static str, &'static str)>;

fn line(
    fx_person: &str,
    date: String,
    item: &str,
    session: Option<&str>,
    quantity: f64,
    unit: i64,
) -> Value {
    let mut l = json!({"person_ref": fx_person, "date": date, "item": item, "quantity": quantity, "need_band": "medium",
                       "unit_price_pence": unit, "amount_pence": (quantity * unit as f64).round() as i64});
    if let Some(s) = session {
        l["session_type"] = json!(s);
    }
    l
}

fn push(claim: &mut Value, line: Value) {
    claim["total_pence"] =
        json!(claim["total_pence"].as_i64().unwrap() + line["amount_pence"].as_i64().unwrap());
    claim["lines"].as_array_mut().unwrap().push(line);
}

/// Every claim rule of SPEC §5 through the API, with its pointer.
#[test]
fn every_claim_rule_through_the_api() {
    let app = TestApp::spawn();
    let cases: Vec<(&str, Mutation, Expected)> = vec![
        (
            "CLM-001",
            |fx, m, c| push(c, line(&fx.p2, day(m, 3), "session", Some("pm"), 1.0, 5000)),
            vec![
                ("CLM-007", "warning", "/lines/6"),
                ("CLM-001", "error", "/lines/6"),
            ],
        ),
        (
            "CLM-005",
            |_, _, c| c["total_pence"] = json!(1),
            vec![("CLM-005", "warning", "/total_pence")],
        ),
        (
            "CLM-006",
            |fx, m, c| push(c, line(&fx.p1, day(m, 7), "session", Some("am"), 1.0, 5000)),
            vec![
                ("CLM-006", "error", "/lines/6/date"),
                ("CLM-001", "error", "/lines/6"),
            ],
        ),
        (
            "CLM-003",
            |_, _, c| {
                let l = c["lines"][0].clone();
                push(c, l)
            },
            vec![("CLM-003", "error", "/lines/6")],
        ),
        (
            "RATE-004",
            |_, _, c| {
                c["lines"][0]["amount_pence"] = json!(4999);
                c["total_pence"] = json!(c["total_pence"].as_i64().unwrap() - 1)
            },
            vec![("RATE-004", "warning", "/lines/0/amount_pence")],
        ),
        (
            "AGR-001",
            |_, m, c| push(c, line("NOBODY", day(m, 0), "meal", None, 1.0, 450)),
            vec![
                ("AGR-001", "error", "/lines/6/person_ref"),
                ("CLM-001", "error", "/lines/6"),
            ],
        ),
        (
            "AGR-004",
            |fx, m, c| {
                push(
                    c,
                    line(&fx.p2, day(m, 1), "session", Some("evening"), 1.0, 5000),
                )
            },
            vec![
                ("AGR-004", "error", "/lines/6/session_type"),
                ("CLM-007", "warning", "/lines/6"),
                ("CLM-001", "error", "/lines/6"),
            ],
        ),
        (
            "SUB-001",
            |_, m, c| c["period_end"] = json!(day(m, 5)),
            vec![("SUB-001", "error", "/period_start")],
        ),
        (
            "AGR-006",
            |_, _, c| {
                let hours = c["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|l| l["item"] == "one_to_one_hour")
                    .unwrap();
                c["lines"][hours]["quantity"] = json!(2.75);
                c["lines"][hours]["amount_pence"] = json!(4950);
            },
            vec![
                ("AGR-006", "error", "/lines/3/quantity"),
                ("CLM-001", "error", "/lines/3"),
                ("CLM-005", "warning", "/total_pence"),
            ],
        ),
    ];
    for (i, (name, mutate, expected)) in cases.into_iter().enumerate() {
        let (fx, monday) = with_register(&app, &format!("Q{i}"));
        let mut claim = draft(&app, &fx, monday);
        mutate(&fx, monday, &mut claim);
        let r = post_claim(&app, &fx, &claim);
        r.expect(201);
        let expected: Vec<_> = expected.into_iter().map(|(c, s, p)| f(c, s, p)).collect();
        assert_eq!(findings(&r), expected, "{name}: {}", r.text);
    }
}

#[test]
fn absences_are_paid_by_the_policy_and_extras_warn() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "ABS");
    let monday = last_week();
    let mut register = fx.register(monday);
    // P2 ill with 2 hours' notice (chargeable); P1's Wednesday a holiday booked weeks ahead.
    register["lines"][2] = json!({"person_ref": fx.p2, "date": day(monday, 1), "session_type": "pm", "status": "absent", "absence_reason": "illness", "notice_hours": 2});
    register["lines"][1] = json!({"person_ref": fx.p1, "date": day(monday, 2), "session_type": "full_day", "status": "absent", "absence_reason": "holiday", "notice_hours": 500});
    // And P1 on an extra Thursday.
    register["lines"].as_array_mut().unwrap().push(json!({"person_ref": fx.p1, "date": day(monday, 3), "session_type": "am", "status": "attended", "comment": "trip"}));
    register["lines"].as_array_mut().unwrap().push(json!({"person_ref": fx.p1, "date": day(monday, 4), "session_type": "am", "status": "attended", "comment": "trip"}));
    let r = fx.post(&app, &register);
    assert_ne!(r.body["status"], "rejected", "{}", r.text);
    // The draft pays the illness and not the holiday.
    let claim = draft(&app, &fx, monday);
    let sessions: Vec<_> = claim["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["item"] == "session")
        .map(|l| l["date"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sessions.len(), 4, "{claim}");
    assert!(!sessions.contains(&day(monday, 2)));
    let mut with_holiday = claim.clone();
    push(
        &mut with_holiday,
        line(
            &fx.p1,
            day(monday, 2),
            "session",
            Some("full_day"),
            1.0,
            5000,
        ),
    );
    let r = post_claim(&app, &fx, &with_holiday);
    let codes = findings(&r);
    assert!(
        codes.contains(&f("CLM-002", "error", "/lines/4")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&f("CLM-007", "warning", "/lines/2")),
        "{codes:?}"
    );
    assert_eq!(r.body["status"], "partially_accepted");
    assert_eq!(r.body["lines"][4]["accepted_amount_pence"], 0);
}

#[test]
fn the_same_unit_is_paid_once_under_concurrency() {
    let app = TestApp::spawn();
    let process = app.second_server();
    let servers = [&app, &process.app];
    let monday = last_week();
    // Two providers both have the person on a plan for Monday am.
    let a = Fixture::new(&app, "PA");
    let b = Fixture::new(&app, "PB");
    let shared = "SHARED1";
    for fx in [&a, &b] {
        app.put(
            &format!("/v1/contracts/{}/agreements", fx.contract),
            &app.commissioner(),
            &json!({"agreements": [{"person_ref": shared, "need_bands": [{"from": "2025-01-06", "band": "medium"}],
                "planned_sessions": [{"weekday": "monday", "session_type": "am"}], "start_date": "2025-01-06", "pathway": "therapeutic"}]}),
        )
        .expect(200);
    }
    // Provider A's register records the person (B's would be REG-006), so only A's claim has a register behind it;
    // to race on CLM-003 alone, both claims name a unit priced and recorded for each: use the meal, recorded on both.
    let mut ra = a.register(monday);
    ra["lines"].as_array_mut().unwrap().push(json!({"person_ref": shared, "date": day(monday, 0), "session_type": "am", "status": "attended", "outcome_tags": ["wellbeing"]}));
    a.post(&app, &ra).expect(201);
    let mut rb = b.register(monday);
    rb["lines"].as_array_mut().unwrap().push(json!({"person_ref": shared, "date": day(monday, 0), "session_type": "am", "status": "attended", "outcome_tags": ["wellbeing"]}));
    b.post(&app, &rb).expect(201);
    let claim = |fx: &Fixture, week_offset: u64| {
        let mut c = json!({"contract_id": fx.contract, "period_start": (monday - chrono::Days::new(week_offset)).to_string(),
            "period_end": day(monday - chrono::Days::new(week_offset), 6), "total_pence": 0, "lines": []});
        push(
            &mut c,
            line(shared, day(monday, 0), "session", Some("am"), 1.0, 5000),
        );
        c
    };
    let accepted_lines: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let fx = if i % 2 == 0 { &a } else { &b };
                let server = servers[i % 2];
                let body = claim(fx, 0);
                scope.spawn(move || {
                    let r = post_claim(server, fx, &body);
                    assert!(r.status == 201 || r.status == 409, "{}", r.text);
                    if r.status == 201 {
                        r.body["lines"][0]["accepted_amount_pence"]
                            .as_i64()
                            .unwrap_or(0)
                    } else {
                        0
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|amount| *amount > 0)
            .count()
    });
    assert_eq!(
        accepted_lines, 1,
        "exactly one claim line is paid for the unit"
    );
}

#[test]
fn amending_a_register_marks_its_approved_claim() {
    let app = TestApp::spawn();
    let (fx, monday) = with_register(&app, "N");
    let claim = draft(&app, &fx, monday);
    let id = post_claim(&app, &fx, &claim).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/v1/claims/{id}/decision"),
        &app.commissioner(),
        &json!({"decision": "approve", "reason": "ok"}),
    )
    .expect(200);
    let register_id = app.get("/v1/registers", &fx.token).body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut amended = fx.register(monday);
    amended["lines"][0]["comment"] = json!("arrived late");
    app.request_with(
        "PUT",
        &format!("/v1/registers/{register_id}"),
        Some(&fx.token),
        Some(("application/json", amended.to_string().into_bytes())),
        &[("If-Match", "\"v1\"")],
    )
    .expect(200);
    let now = app.get(&format!("/v1/claims/{id}"), &fx.token);
    assert_eq!(now.body["status"], "needs_adjustment");
    let v1 = app.get(&format!("/v1/claims/{id}/versions/1"), &app.auditor());
    v1.expect(200);
    // Another provider sees nothing of it.
    let other = Fixture::new(&app, "NO");
    app.get(&format!("/v1/claims/{id}"), &other.token)
        .expect(404);
    assert_eq!(app.get("/v1/claims", &other.token).body["items"], json!([]));
}

/// The claim rules that need reference data changed after the register was accepted.
#[test]
fn claim_rules_that_depend_on_reference_data() {
    let app = TestApp::spawn();
    let c = app.commissioner();

    // SUB-003: the contract was suspended.
    let (fx, monday) = with_register(&app, "S3");
    let claim = draft(&app, &fx, monday);
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &c,
        &json!({"status": "suspended"}),
    )
    .expect(200);
    let r = post_claim(&app, &fx, &claim);
    assert_eq!(findings(&r), [f("SUB-003", "error", "/contract_id")]);
    assert_eq!(
        (
            r.body["status"].clone(),
            r.body["accepted_total_pence"].clone()
        ),
        (json!("rejected"), json!(0))
    );

    // AGR-002 and AGR-003: the agreement now ends before Wednesday, the other is suspended.
    let (fx, monday) = with_register(&app, "A23");
    let claim = draft(&app, &fx, monday);
    let agreement = |person: &str, end: Option<String>, suspensions: Value| {
        json!({"person_ref": person, "need_bands": [{"from": "2025-01-06", "band": "medium"}],
               "planned_sessions": [{"weekday": "monday", "session_type": "am"}, {"weekday": "wednesday", "session_type": "full_day"}],
               "one_to_one_hours_per_week": 2.0, "transport_journeys_per_week": 4, "start_date": "2025-01-06",
               "end_date": end, "suspensions": suspensions, "pathway": "therapeutic"})
    };
    app.put(
        &format!("/v1/contracts/{}/agreements", fx.contract),
        &c,
        &json!({"agreements": [
            agreement(&fx.p1, Some(day(monday, 1)), json!([])),
            agreement(&fx.p2, None, json!([{"from": day(monday, 1), "to": day(monday, 1), "reason": "hospital admission"}])),
        ]}),
    )
    .expect(200);
    let r = post_claim(&app, &fx, &claim);
    let codes = findings(&r);
    // Draft lines: the sessions (P1 Monday, P1 Wednesday, P2 Tuesday), then P1's Wednesday
    // hours, journeys and meal.
    for pointer in [
        "/lines/1/date",
        "/lines/3/date",
        "/lines/4/date",
        "/lines/5/date",
    ] {
        assert!(
            codes.contains(&f("AGR-002", "error", pointer)),
            "{pointer}: {codes:?}"
        );
    }
    assert!(
        codes.contains(&f("AGR-003", "error", "/lines/2/date")),
        "{codes:?}"
    );
    assert_eq!(r.body["status"], "partially_accepted");

    // RATE-001: full days are priced for the high band only; P1 is medium.
    let session = |st: &str, band: &str, pence: i64| json!({"item": "session", "need_band": band, "session_type": st, "day_category": "any", "rate_pence": pence});
    let fx = Fixture::with_cells(
        &app,
        "R1",
        vec![
            session("am", "*", 5000),
            session("pm", "*", 5000),
            session("full_day", "high", 9000),
        ],
    );
    let monday = last_week();
    let mut register = fx.register(monday);
    register["lines"][1] = json!({"person_ref": fx.p1, "date": day(monday, 2), "session_type": "full_day", "status": "attended"});
    assert_eq!(fx.post(&app, &register).body["status"], "accepted");
    let mut claim = json!({"contract_id": fx.contract, "period_start": monday.to_string(), "period_end": day(monday, 6), "total_pence": 0, "lines": []});
    push(
        &mut claim,
        line(
            &fx.p1,
            day(monday, 2),
            "session",
            Some("full_day"),
            1.0,
            9000,
        ),
    );
    let r = post_claim(&app, &fx, &claim);
    assert_eq!(findings(&r), [f("RATE-001", "error", "/lines/0/need_band")]);
    assert_eq!(r.body["status"], "rejected");
}

/// A register amended after its correction window is refused whole (409, SUB-005): the
/// accepted version stays current, so the period's draft claim is what it was; a late
/// amendment of the claim is refused the same way.
#[test]
fn a_late_amendment_changes_nothing() {
    let app = TestApp::spawn();
    let (fx, monday) = with_register(&app, "LATE");
    let before = draft(&app, &fx, monday);
    assert!(!before["lines"].as_array().unwrap().is_empty(), "{before}");
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &app.commissioner(),
        &json!({"correction_window_days": 0}),
    )
    .expect(200);
    let register = app.get(
        &format!("/v1/submissions?kind=register&contract_id={}", fx.contract),
        &fx.token,
    );
    let register_id = register.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut emptied = fx.register(monday);
    emptied["lines"] = json!([]);
    let amend_late = |path: &str, body: &Value| {
        let r = app.request_with(
            "PUT",
            path,
            Some(&fx.token),
            Some(("application/json", body.to_string().into_bytes())),
            &[("If-Match", "\"v1\"")],
        );
        r.expect(409);
        assert!(
            r.body["detail"].as_str().unwrap().contains("SUB-005"),
            "{}",
            r.text
        );
        let current = app.get(path, &fx.token);
        assert_eq!(current.body["version"], 1, "{path}");
        assert_eq!(current.body["status"], "accepted", "{path}");
        app.get(&format!("{path}/versions/2"), &fx.token)
            .expect(404);
    };
    amend_late(&format!("/v1/registers/{register_id}"), &emptied);
    assert_eq!(draft(&app, &fx, monday), before);

    let claim = post_claim(&app, &fx, &before);
    claim.expect(201);
    let claim_id = claim.body["id"].as_str().unwrap().to_string();
    amend_late(&format!("/v1/claims/{claim_id}"), &before);
    let stored = app.get(&format!("/v1/claims/{claim_id}"), &fx.token);
    assert_eq!(stored.body["accepted_total_pence"], before["total_pence"]);
}

/// Each line is rounded half up to whole pence, and the claim's total is the sum of its
/// rounded lines: quarter-hours of one-to-one support at 1,801p an hour.
#[test]
fn lines_round_half_up_and_the_total_is_their_sum() {
    let app = TestApp::spawn();
    let mut cells: Vec<Value> = ["am", "pm", "full_day"]
        .iter()
        .map(|st| json!({"item": "session", "need_band": "*", "session_type": st, "day_category": "any", "rate_pence": 5000}))
        .collect();
    for (item, pence) in [
        ("one_to_one_hour", 1801),
        ("transport_journey", 850),
        ("meal", 450),
    ] {
        cells.push(
            json!({"item": item, "need_band": "*", "day_category": "any", "rate_pence": pence}),
        );
    }
    let fx = Fixture::with_cells(&app, "ROUND", cells);
    let monday = last_week();
    let mut register = fx.register(monday);
    register["lines"][0]["one_to_one_hours"] = json!(0.5); // 900.5p → 901p
    register["lines"][1]["one_to_one_hours"] = json!(0.75); // 1,350.75p → 1,351p
    register["lines"][2]["one_to_one_hours"] = json!(0.25); // 450.25p → 450p
    let r = fx.post(&app, &register);
    assert_ne!(r.body["status"], "rejected", "{}", r.text);
    let claim = draft(&app, &fx, monday);
    let r = post_claim(&app, &fx, &claim);
    r.expect(201);
    let mut hours: Vec<(f64, i64)> = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["item"] == "one_to_one_hour")
        .map(|l| {
            (
                l["accepted_quantity"].as_f64().unwrap(),
                l["accepted_amount_pence"].as_i64().unwrap(),
            )
        })
        .collect();
    hours.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(hours, [(0.25, 450), (0.5, 901), (0.75, 1351)]);
    let sum: i64 = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["accepted_amount_pence"].as_i64().unwrap())
        .sum();
    assert_eq!(r.body["accepted_total_pence"], sum);
}
