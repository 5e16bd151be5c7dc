//! Registers end to end: rules with their pointers, CSV, idempotency, amendments,
//! isolation between providers, and size limits.

use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use crate::support::{day, findings, last_week, Fixture, TestApp};

fn f(code: &str, severity: &str, pointer: &str) -> (String, String, String) {
    (code.to_string(), severity.to_string(), pointer.to_string())
}

#[test]
fn clean_warning_and_error_registers() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "A");
    let monday = last_week();

    let clean = fx.post(&app, &fx.register(monday));
    clean.expect(201);
    assert_eq!(clean.body["status"], "accepted", "{}", clean.text);
    assert_eq!(clean.body["validation"]["outcome"], "accepted");
    assert_eq!(clean.body["version"], 1);
    assert_eq!(clean.body["kind"], "register");
    assert_eq!(clean.header("etag"), Some("\"v1\""));
    let id = clean.body["id"].as_str().unwrap();
    assert_eq!(
        clean.header("location"),
        Some(format!("/v1/registers/{id}").as_str())
    );
    assert_eq!(clean.body["content_sha256"].as_str().unwrap().len(), 64);
    let read = app.get(&format!("/v1/registers/{id}"), &fx.token);
    read.expect(200);
    assert_eq!(read.body["lines"].as_array().unwrap().len(), 3);
    assert_eq!(read.body["lines"][1]["one_to_one_hours"], json!(2.0));
    assert_eq!(read.header("etag"), Some("\"v1\""));

    // Warnings only: an extra session with a comment.
    let fx = Fixture::new(&app, "A2");
    let mut warned = fx.register(monday);
    warned["lines"].as_array_mut().unwrap().push(json!({
        "person_ref": fx.p2, "date": day(monday, 3), "session_type": "pm",
        "status": "attended", "comment": "cover for a cancelled trip", "outcome_tags": ["social_inclusion"]
    }));
    let r = fx.post(&app, &warned);
    r.expect(201);
    assert_eq!(r.body["status"], "accepted_with_warnings");
    assert_eq!(
        findings(&r),
        [f("AGR-005", "warning", "/lines/3/session_type")]
    );

    // Errors: stored and rejected.
    let other = Fixture::new(&app, "B");
    let mut bad = other.register(monday);
    bad["lines"][2]["status"] = json!("absent");
    let r = other.post(&app, &bad);
    r.expect(201);
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(
        findings(&r),
        [f("REG-002", "error", "/lines/2/absence_reason")]
    );
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/registers/{id}"), &app.auditor()).body["status"],
        "rejected"
    );
}

type Mutation = fn(&Fixture, &mut Value);
type Expected = Vec<(&'static str, &'static str, &'static str)>;

/// Every register rule of SPEC §5, produced through the API with its pointer.
#[test]
fn every_register_rule_through_the_api() {
    let app = TestApp::spawn();
    let monday = last_week();
    let cases: Vec<(&str, Mutation, Expected)> = vec![
        (
            "SUB-001",
            |_, r| r["period_start"] = json!(day(last_week(), 1)),
            vec![
                ("SUB-001", "error", "/period_start"),
                ("SUB-001", "error", "/period_end"),
                ("REG-011", "error", "/lines/0/date"),
            ],
        ),
        (
            "SUB-002",
            |fx, r| *r = fx.register(last_week() - chrono::Days::new(28)),
            vec![("SUB-002", "warning", "/period_end")],
        ),
        (
            "AGR-001",
            |_, r| r["lines"][2]["person_ref"] = json!("NOBODY1"),
            vec![
                ("AGR-001", "error", "/lines/2/person_ref"),
                ("REG-001", "error", "/lines"),
            ],
        ),
        (
            "REG-003",
            |fx, r| {
                push(
                    r,
                    json!({"person_ref": fx.p2, "date": day(last_week(), 3), "session_type": "pm", "status": "attended", "community_access": true}),
                )
            },
            vec![("REG-003", "error", "/lines/3/comment")],
        ),
        (
            "REG-004",
            |_, r| r["lines"][1]["one_to_one_hours"] = json!(1.3),
            vec![("REG-004", "error", "/lines/1/one_to_one_hours")],
        ),
        (
            "REG-005",
            |_, r| {
                let l = r["lines"][0].clone();
                push(r, l)
            },
            vec![("REG-005", "error", "/lines/3")],
        ),
        (
            "REG-009",
            |_, r| {
                r["lines"][2]["status"] = json!("provider_cancelled");
                r["lines"][2]["meal"] = json!(true)
            },
            vec![("REG-009", "error", "/lines/2/status")],
        ),
        (
            "REG-010",
            |_, r| r["lines"][0]["one_to_one_hours"] = json!(3.5),
            vec![
                ("REG-010", "error", "/lines/0/one_to_one_hours"),
                ("AGR-006", "error", "/lines/0/one_to_one_hours"),
            ],
        ),
        (
            "REG-011",
            |_, r| r["lines"][2]["date"] = json!(day(last_week(), 8)),
            vec![
                ("REG-011", "error", "/lines/2/date"),
                ("REG-001", "error", "/lines"),
            ],
        ),
        (
            "REG-012",
            |_, r| r["lines"][0]["outcome_tags"] = json!([]),
            vec![("REG-012", "warning", "/lines/0/outcome_tags")],
        ),
        (
            "REG-001",
            |_, r| {
                r["lines"].as_array_mut().unwrap().remove(2);
            },
            vec![("REG-001", "error", "/lines")],
        ),
        (
            "transport at the authorisation",
            |_, r| r["lines"][1]["transport_journeys"] = json!(4),
            vec![],
        ),
        (
            "AGR-006",
            |_, r| r["lines"][1]["transport_journeys"] = json!(5),
            vec![("AGR-006", "error", "/lines/1/transport_journeys")],
        ),
    ];
    for (i, (name, mutate, expected)) in cases.into_iter().enumerate() {
        let fx = Fixture::new(&app, &format!("K{i}"));
        let mut register = fx.register(monday);
        mutate(&fx, &mut register);
        let r = fx.post(&app, &register);
        r.expect(201);
        let expected: Vec<_> = expected.into_iter().map(|(c, s, p)| f(c, s, p)).collect();
        assert_eq!(findings(&r), expected, "{name}: {}", r.text);
    }
}

fn push(register: &mut Value, line: Value) {
    register["lines"].as_array_mut().unwrap().push(line);
}

/// Rules that need the contract, agreements or matrix changed first.
#[test]
fn rules_that_depend_on_reference_data() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let monday = last_week();

    // SUB-003: the contract is suspended.
    let fx = Fixture::new(&app, "S3");
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &c,
        &json!({"status": "suspended"}),
    )
    .expect(200);
    assert_eq!(
        findings(&fx.post(&app, &fx.register(monday))),
        [f("SUB-003", "error", "/contract_id")]
    );

    // REG-007: a closure date. REG-008: over capacity.
    let fx = Fixture::new(&app, "R7");
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &c,
        &json!({"closure_dates": [day(monday, 2)], "capacity_per_session": 1}),
    )
    .expect(200);
    let mut register = fx.register(monday);
    push(
        &mut register,
        json!({"person_ref": fx.p2, "date": day(monday, 0), "session_type": "am", "status": "attended", "comment": "swap", "community_access": true}),
    );
    assert_eq!(
        findings(&fx.post(&app, &register)),
        [
            f("REG-007", "error", "/lines/1/date"),
            f("REG-008", "warning", "/lines/3"),
            f("AGR-005", "warning", "/lines/3/session_type"),
        ]
    );

    // AGR-002 (agreement starts on the Wednesday) and AGR-003 (suspension ending mid-week).
    let fx = Fixture::new(&app, "A2");
    let agreement = |person: &str, start: String, suspensions: Value, planned: Value| {
        json!({"person_ref": person, "need_bands": [{"from": start, "band": "medium"}], "planned_sessions": planned,
               "one_to_one_hours_per_week": 2.0, "transport_journeys_per_week": 4, "start_date": start,
               "suspensions": suspensions, "pathway": "therapeutic"})
    };
    app.put(
        &format!("/v1/contracts/{}/agreements", fx.contract),
        &c,
        &json!({"agreements": [
            agreement(&fx.p1, "2025-01-06".into(), json!([{"from": day(monday, 1), "to": day(monday, 2), "reason": "respite"}]),
                      json!([{"weekday": "monday", "session_type": "am"}, {"weekday": "wednesday", "session_type": "full_day"}])),
            agreement(&fx.p2, day(monday, 2), json!([]), json!([{"weekday": "tuesday", "session_type": "pm"}])),
        ]}),
    )
    .expect(200);
    assert_eq!(
        findings(&fx.post(&app, &fx.register(monday))),
        [
            f("AGR-003", "error", "/lines/1/date"),
            f("AGR-002", "error", "/lines/2/date")
        ]
    );

    // AGR-004: the matrix offers no evening session. AGR-005 as an error: no extras allowed.
    let fx = Fixture::new(&app, "A4");
    app.patch(&format!("/v1/contracts/{}", fx.contract), &c, &json!({"allows_extras": false, "session_hours": {"am": 3, "pm": 3, "full_day": 6, "evening": 3}})).expect(200);
    let mut register = fx.register(monday);
    push(
        &mut register,
        json!({"person_ref": fx.p2, "date": day(monday, 4), "session_type": "evening", "status": "attended", "comment": "disco"}),
    );
    assert_eq!(
        findings(&fx.post(&app, &register)),
        [
            f("AGR-004", "error", "/lines/3/session_type"),
            f("AGR-005", "error", "/lines/3/session_type")
        ]
    );
}

#[test]
fn overlapping_sessions_across_providers_are_found_without_naming_them() {
    let app = TestApp::spawn();
    let monday = last_week();
    let first = Fixture::new(&app, "X1");
    first.post(&app, &first.register(monday)).expect(201);

    // The same person is placed with a second provider too.
    let second = Fixture::new(&app, "X2");
    app.put(
        &format!("/v1/contracts/{}/agreements", second.contract),
        &app.commissioner(),
        &json!({"agreements": [{"person_ref": first.p1, "need_bands": [{"from": "2025-01-06", "band": "high"}],
            "planned_sessions": [{"weekday": "monday", "session_type": "full_day"}], "start_date": "2025-01-06", "pathway": "therapeutic"}]}),
    )
    .expect(200);
    let mut register = second.register(monday);
    register["lines"] = json!([
        {"person_ref": first.p1, "date": day(monday, 0), "session_type": "full_day", "status": "attended", "outcome_tags": ["life_goals"]},
        {"person_ref": second.p1, "date": day(monday, 0), "session_type": "am", "status": "attended", "outcome_tags": ["wellbeing"]},
        {"person_ref": second.p1, "date": day(monday, 2), "session_type": "full_day", "status": "attended"},
        {"person_ref": second.p2, "date": day(monday, 1), "session_type": "pm", "status": "attended", "community_access": true},
    ]);
    let r = second.post(&app, &register);
    r.expect(201);
    assert_eq!(
        findings(&r),
        [f("REG-006", "error", "/lines/0/session_type")]
    );
    assert!(
        !r.text.contains(&first.provider) && !r.text.contains(&first.contract),
        "REG-006 reveals nothing: {}",
        r.text
    );
}

#[test]
fn csv_registers_match_json() {
    let app = TestApp::spawn();
    let monday = last_week();
    let json_fx = Fixture::new(&app, "J");
    let csv_fx = Fixture::new(&app, "C");
    let rows = |fx: &Fixture| {
        format!(
            "person_ref,date,session_type,status,absence_reason,one_to_one_hours,transport_journeys,meal,community_access,outcome_tags,comment\n\
             {p1},{d0},am,attended,,,,,,wellbeing,\n\
             {p1},{d2},full_day,attended,,2.5,2,yes,,,\n\
             {p2},{d1},pm,absent,,,,,,,\n",
            p1 = fx.p1, p2 = fx.p2, d0 = day(monday, 0), d1 = day(monday, 1), d2 = day(monday, 2)
        )
    };
    let mut as_json = json_fx.register(monday);
    as_json["lines"][1]["one_to_one_hours"] = json!(2.5);
    as_json["lines"][2] = json!({"person_ref": json_fx.p2, "date": day(monday, 1), "session_type": "pm", "status": "absent"});
    let json_findings = findings(&json_fx.post(&app, &as_json));
    assert_eq!(
        json_findings,
        [
            f("AGR-006", "error", "/lines/1/one_to_one_hours"),
            f("REG-002", "error", "/lines/2/absence_reason")
        ]
    );

    let path = format!(
        "/v1/registers?contract_id={}&period_start={}&period_end={}",
        csv_fx.contract,
        monday,
        day(monday, 6)
    );
    let r = app.request_with(
        "POST",
        &path,
        Some(&csv_fx.token),
        Some(("text/csv", rows(&csv_fx).into_bytes())),
        &[("Idempotency-Key", "csv-1")],
    );
    r.expect(201);
    assert_eq!(
        findings(&r),
        [
            f("AGR-006", "error", "/rows/3/one_to_one_hours"),
            f("REG-002", "error", "/rows/4/absence_reason")
        ]
    );
    // Stored as JSON: read back, the findings point into the JSON lines.
    let id = r.body["id"].as_str().unwrap();
    let stored = app.get(&format!("/v1/registers/{id}"), &csv_fx.token);
    assert_eq!(
        findings(&stored)[1],
        f("REG-002", "error", "/lines/2/absence_reason")
    );
    assert_eq!(stored.body["lines"][1]["meal"], json!(true));

    // Malformed CSV: 422 naming row and column; nothing stored.
    for (csv, pointer) in [
        (
            "person_ref,date,status\nP,2025-01-06,attended\n".to_string(),
            "/rows/1/session_type",
        ),
        (
            format!(
                "person_ref,date,session_type,status\n{},2025-13-01,am,attended\n",
                csv_fx.p1
            ),
            "/rows/2/date",
        ),
        (
            format!(
                "person_ref,date,session_type,status\n{},{},am,attended\n{},{},noon,attended\n",
                csv_fx.p1,
                day(monday, 0),
                csv_fx.p1,
                day(monday, 0)
            ),
            "/rows/3/session_type",
        ),
    ] {
        let r = app.request(
            "POST",
            &format!(
                "/v1/registers/validate?contract_id={}&period_start={monday}&period_end={}",
                csv_fx.contract,
                day(monday, 6)
            ),
            Some(&csv_fx.token),
            Some(("text/csv", csv.into_bytes())),
        );
        r.expect(422);
        assert_eq!(r.pointers(), [pointer]);
    }
    let r = app.request_with(
        "POST",
        "/v1/registers",
        Some(&csv_fx.token),
        Some(("text/csv", rows(&csv_fx).into_bytes())),
        &[("Idempotency-Key", "csv-2")],
    );
    r.expect(422);
    assert_eq!(
        r.pointers(),
        [
            "/query/contract_id",
            "/query/period_start",
            "/query/period_end"
        ]
    );
}

#[test]
fn validate_stores_nothing() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "V");
    let mut register = fx.register(last_week());
    register["lines"][2]["status"] = json!("absent");
    let r = app.request(
        "POST",
        "/v1/registers/validate",
        Some(&fx.token),
        Some(("application/json", register.to_string().into_bytes())),
    );
    r.expect(200);
    assert_eq!(r.body["outcome"], "rejected");
    assert_eq!(r.body["findings"][0]["code"], "REG-002");
    assert_eq!(app.get("/v1/registers", &fx.token).body["items"], json!([]));
}

#[test]
fn idempotency_keys() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "I");
    let monday = last_week();
    let body = fx.register(monday);

    // Missing key: 400.
    let r = app.request(
        "POST",
        "/v1/registers",
        Some(&fx.token),
        Some(("application/json", body.to_string().into_bytes())),
    );
    r.expect(400);
    assert_eq!(r.pointers(), ["/headers/idempotency-key"]);

    // Ten times with one key: one version, ten identical answers.
    let answers: Vec<_> = (0..10)
        .map(|_| fx.post_keyed(&app, &body, "week-1"))
        .collect();
    for a in &answers {
        a.expect(201);
        assert_eq!(a.text, answers[0].text);
        assert_eq!(a.header("etag"), Some("\"v1\""));
    }
    let list = app.get("/v1/registers", &fx.token);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // Same key, other body: 422. Another key for the same week: 409 with the existing id.
    let mut other = body.clone();
    other["lines"][0]["comment"] = json!("changed");
    fx.post_keyed(&app, &other, "week-1").expect(422);
    let dup = fx.post_keyed(&app, &body, "week-1-again");
    dup.expect(409);
    assert_eq!(dup.body["existing_id"], answers[0].body["id"]);
    // The 409 is replayed for its key too, not re-run into something else.
    assert_eq!(fx.post_keyed(&app, &body, "week-1-again").status, 409);
    assert_eq!(dup.body["type"], "/problems/conflict");
    assert_eq!(dup.header("Retry-After"), None);

    // A key whose first request is still being processed (as after a crash mid-request):
    // its own problem type, and Retry-After, so a client knows to retry rather than stop.
    app.sql()
        .batch_execute(
            "UPDATE idempotency_keys SET state = 'in_flight', response_status = NULL, \
             response_body = NULL WHERE idempotency_key = 'week-1'",
        )
        .unwrap();
    let waiting = fx.post_keyed(&app, &body, "week-1");
    waiting.expect(409);
    assert_eq!(waiting.body["type"], "/problems/in-flight");
    assert_eq!(waiting.header("Retry-After"), Some("1"));
    // A running request renews its claim every 5 s; one not renewed for 10 s is still
    // taken to be running, one not renewed for 25 s to have died with its process: the
    // retry runs (and finds the week stored: 409 naming it, not "in flight").
    let renewed = |seconds_ago: i64| {
        let at = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(seconds_ago);
        app.sql()
            .batch_execute(&format!(
                "UPDATE idempotency_keys SET created_at = '{}' WHERE idempotency_key = 'week-1'",
                at.format("%Y-%m-%d %H:%M:%S")
            ))
            .unwrap();
    };
    renewed(10);
    assert_eq!(
        fx.post_keyed(&app, &body, "week-1").body["type"],
        "/problems/in-flight"
    );
    renewed(25);
    let retried = fx.post_keyed(&app, &body, "week-1");
    retried.expect(409);
    assert_eq!(retried.body["type"], "/problems/conflict");
    assert_eq!(retried.body["existing_id"], answers[0].body["id"]);
}

#[test]
fn concurrent_requests_with_one_key_store_one_version() {
    let app = TestApp::spawn();
    let process = app.second_server();
    let second = &process.app;
    let fx = Fixture::new(&app, "CC");
    let body = fx.register(last_week());
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let server = if i % 2 == 0 { &app } else { second };
                let body = &body;
                let fx = &fx;
                scope.spawn(move || fx.post_keyed(server, body, "same-key").status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    let list = app.get("/v1/registers", &fx.token);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let id = list.body["items"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/registers/{id}"), &fx.token).body["current_version"],
        1
    );
    app.get(&format!("/v1/registers/{id}/versions/2"), &fx.token)
        .expect(404);
    // Different keys racing for one week: exactly one register.
    let fx = Fixture::new(&app, "CD");
    let body = fx.register(last_week());
    let created = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let server = if i % 2 == 0 { &app } else { second };
                let (body, fx) = (&body, &fx);
                scope.spawn(move || fx.post_keyed(server, body, &format!("k{i}")).status)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|s| *s == 201)
            .count()
    });
    assert_eq!(created, 1);
}

#[test]
fn amendments_need_the_current_etag() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "M");
    let monday = last_week();
    let mut body = fx.register(monday);
    body["lines"][2]["status"] = json!("absent");
    let first = fx.post(&app, &body);
    assert_eq!(first.body["status"], "rejected");
    let id = first.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/registers/{id}");
    let fixed = fx.register(monday);
    let put = |etag: Option<&str>, body: &Value| {
        let headers: Vec<(&str, &str)> = etag.map(|e| vec![("If-Match", e)]).unwrap_or_default();
        app.request_with(
            "PUT",
            &path,
            Some(&fx.token),
            Some(("application/json", body.to_string().into_bytes())),
            &headers,
        )
    };
    put(None, &fixed).expect(428);
    put(Some("\"v7\""), &fixed).expect(412);

    // Twenty amendments with the same ETag: exactly one wins.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| put(Some("\"v1\""), &fixed).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        19,
        "{statuses:?}"
    );

    let current = app.get(&path, &fx.token);
    assert_eq!(
        (
            current.body["version"].clone(),
            current.body["status"].clone()
        ),
        (json!(2), json!("accepted"))
    );
    assert_eq!(current.header("etag"), Some("\"v2\""));
    // Version 1 stays as it was.
    let v1 = app.get(&format!("{path}/versions/1"), &app.auditor());
    assert_eq!(v1.body["status"], "rejected");
    assert_eq!(v1.body["lines"][2]["status"], "absent");
    assert_eq!(v1.body["content_sha256"], first.body["content_sha256"]);
    app.get(&format!("{path}/versions/3"), &fx.token)
        .expect(404);

    // The period cannot move in an amendment.
    let mut moved = fixed.clone();
    moved["period_start"] = json!(day(monday, 7));
    let r = put(Some("\"v2\""), &moved);
    r.expect(422);
    assert_eq!(r.pointers(), ["/period_start"]);

    // SUB-005: after the correction window an amendment is refused (409) and nothing is
    // stored: version 2 stays current.
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &app.commissioner(),
        &json!({"correction_window_days": 0}),
    )
    .expect(200);
    let late = put(Some("\"v2\""), &fixed);
    late.expect(409);
    assert!(
        late.body["detail"].as_str().unwrap().contains("SUB-005"),
        "{}",
        late.text
    );
    let current = app.get(&path, &fx.token);
    assert_eq!(
        (
            current.body["version"].clone(),
            current.body["status"].clone()
        ),
        (json!(2), json!("accepted"))
    );
    app.get(&format!("{path}/versions/3"), &fx.token)
        .expect(404);

    // Every stored version is in the audit trail, twice (content and validation), and the
    // log verifies; the refused late amendment left nothing.
    app.sequenced();
    let events = app.get(
        &format!("/v1/audit-events?entity=register&entity_id={id}"),
        &app.auditor(),
    );
    let actions: Vec<_> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = [
        ("create", 1),
        ("validate", 1),
        ("amend", 2),
        ("validate", 2),
    ]
    .into_iter()
    .map(|(a, v)| (a.to_string(), v))
    .collect();
    assert_eq!(actions, expected);
    assert_eq!(
        events.body["items"][0]["content_sha256"],
        first.body["content_sha256"]
    );
    assert_eq!(
        app.get("/v1/audit-events/verify", &app.auditor()).body["verified"],
        json!(true)
    );

    // Acknowledged warnings accept.
    let fx = Fixture::new(&app, "W");
    let mut warned = fx.register(monday);
    warned["lines"][0]["outcome_tags"] = json!([]);
    let r = fx.post(&app, &warned);
    assert_eq!(r.body["status"], "accepted_with_warnings");
    warned["acknowledged_warnings"] = json!(["REG-012"]);
    let id = r.body["id"].as_str().unwrap();
    let acked = app.request_with(
        "PUT",
        &format!("/v1/registers/{id}"),
        Some(&fx.token),
        Some(("application/json", warned.to_string().into_bytes())),
        &[("If-Match", "\"v1\"")],
    );
    acked.expect(200);
    assert_eq!(acked.body["status"], "accepted");
    assert_eq!(
        findings(&acked),
        [f("REG-012", "warning", "/lines/0/outcome_tags")]
    );
}

#[test]
fn providers_cannot_touch_each_others_registers() {
    let app = TestApp::spawn();
    let mine = Fixture::new(&app, "ME");
    let theirs = Fixture::new(&app, "TH");
    let monday = last_week();
    let r = theirs.post(&app, &theirs.register(monday));
    let their_id = r.body["id"].as_str().unwrap().to_string();
    let missing = app.get(
        "/v1/registers/00000000-0000-0000-0000-000000000000",
        &mine.token,
    );
    missing.expect(404);
    for path in [
        format!("/v1/registers/{their_id}"),
        format!("/v1/registers/{their_id}/versions/1"),
    ] {
        let r = app.get(&path, &mine.token);
        assert_eq!((r.status, r.problem()), (404, missing.problem()), "{path}");
    }
    let amend = app.request_with(
        "PUT",
        &format!("/v1/registers/{their_id}"),
        Some(&mine.token),
        Some((
            "application/json",
            theirs.register(monday).to_string().into_bytes(),
        )),
        &[("If-Match", "\"v1\"")],
    );
    assert_eq!((amend.status, amend.problem()), (404, missing.problem()));
    // Submitting or validating against their contract: 404 too.
    let mut against = theirs.register(monday - chrono::Days::new(7));
    against["contract_id"] = json!(theirs.contract);
    assert_eq!(mine.post(&app, &against).status, 404);
    let r = app.request(
        "POST",
        "/v1/registers/validate",
        Some(&mine.token),
        Some(("application/json", against.to_string().into_bytes())),
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        app.get("/v1/registers", &mine.token).body["items"],
        json!([])
    );
    assert_eq!(
        app.get(
            &format!("/v1/registers?provider_id={}", theirs.provider),
            &mine.token
        )
        .body["items"],
        json!([])
    );
    // Commissioners and auditors read, but do not submit.
    app.get(&format!("/v1/registers/{their_id}"), &app.commissioner())
        .expect(200);
    let r = app.request_with(
        "POST",
        "/v1/registers",
        Some(&app.commissioner()),
        Some(("application/json", b"{}".to_vec())),
        &[("Idempotency-Key", "x")],
    );
    r.expect(403);
}

#[test]
fn five_thousand_lines_fit_read_back_whole_and_oversize_is_refused() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let fx = Fixture::new(&app, "BIG");
    app.patch(
        &format!("/v1/contracts/{}", fx.contract),
        &c,
        &json!({"capacity_per_session": 10000}),
    )
    .expect(200);
    let people: Vec<String> = (0..5_000).map(|i| format!("BIG{i:05}")).collect();
    let agreements: Vec<_> = people
        .iter()
        .map(|p| json!({"person_ref": p, "need_bands": [{"from": "2025-01-06", "band": "low"}],
                        "planned_sessions": [{"weekday": "monday", "session_type": "am"}], "start_date": "2025-01-06", "pathway": "therapeutic"}))
        .collect();
    app.put(
        &format!("/v1/contracts/{}/agreements", fx.contract),
        &c,
        &json!({"agreements": agreements}),
    )
    .expect(200);
    let monday = last_week();
    let lines: Vec<_> = people
        .iter()
        .map(|p| json!({"person_ref": p, "date": monday.to_string(), "session_type": "am", "status": "attended", "outcome_tags": ["wellbeing"]}))
        .chain(fx.register(monday)["lines"].as_array().unwrap().iter().cloned())
        .collect();
    let register = json!({"contract_id": fx.contract, "period_start": monday.to_string(), "period_end": day(monday, 6), "lines": lines});
    let r = fx.post(&app, &register);
    r.expect(201);
    assert_eq!(
        r.body["status"],
        "accepted",
        "{}",
        &r.text[..r.text.len().min(600)]
    );
    // Its answer is sent in slices of the stored text (600 kB of lines); read back whole,
    // it is the register posted.
    let read = app.get(
        &format!("/v1/registers/{}", r.body["id"].as_str().unwrap()),
        &fx.token,
    );
    read.expect(200);
    let sessions = |lines: &[serde_json::Value]| {
        let mut keys: Vec<String> = lines
            .iter()
            .map(|l| format!("{} {} {}", l["person_ref"], l["date"], l["session_type"]))
            .collect();
        keys.sort();
        keys
    };
    let read_lines = read.body["lines"].as_array().unwrap();
    assert_eq!(sessions(read_lines), sessions(&lines));
    let tagged = read_lines
        .iter()
        .filter(|l| people.contains(&l["person_ref"].as_str().unwrap().to_string()))
        .filter(|l| l["outcome_tags"] == json!(["wellbeing"]))
        .count();
    assert_eq!(tagged, people.len());
    assert_eq!(read.body["validation"], r.body["validation"]);
    assert_eq!(read.body["acknowledged_warnings"], json!([]));

    // A register stored at 8 MiB or more is read on a connection of its own on PostgreSQL,
    // and with the file unmapped on SQLite: it reads back whole too.
    let earlier = monday - chrono::Days::new(14);
    let long_lines: Vec<_> = people
        .iter()
        .map(|p| json!({"person_ref": p, "date": earlier.to_string(), "session_type": "am", "status": "attended", "comment": "c".repeat(1_700)}))
        .collect();
    let long = json!({"contract_id": fx.contract, "period_start": earlier.to_string(), "period_end": day(earlier, 6), "lines": long_lines});
    let posted = fx.post(&app, &long);
    posted.expect(201);
    let read = app.get(
        &format!("/v1/registers/{}", posted.body["id"].as_str().unwrap()),
        &fx.token,
    );
    read.expect(200);
    assert!(read.text.len() > 8 * 1024 * 1024, "{}", read.text.len());
    assert_eq!(
        sessions(read.body["lines"].as_array().unwrap()),
        sessions(&long_lines)
    );
    assert_eq!(
        read.body["lines"][4_999]["comment"],
        json!("c".repeat(1_700))
    );

    let mut huge = register.clone();
    huge["period_start"] = json!((monday - chrono::Days::new(7)).to_string());
    for line in huge["lines"].as_array_mut().unwrap() {
        line["comment"] = json!("x".repeat(3_500));
    }
    let bytes = huge.to_string().into_bytes();
    assert!(bytes.len() > 16 * 1024 * 1024);
    app.request_with(
        "POST",
        "/v1/registers",
        Some(&fx.token),
        Some(("application/json", bytes)),
        &[("Idempotency-Key", "huge")],
    )
    .expect(413);
    assert_eq!(
        app.get("/v1/registers", &fx.token).body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// Two providers register the same person on the same morning at the same moment (one
/// through a second `dayops serve` process): however the writes interleave, exactly one
/// register keeps the session and the other gets REG-006. Amending the winner to an
/// absence frees the morning for the other.
#[test]
fn racing_registers_for_one_person_cannot_both_keep_the_session() {
    let app = TestApp::spawn();
    let process = app.second_server();
    let other_server = &process.app;
    let first = Fixture::new(&app, "RA");
    let second = Fixture::new(&app, "RB");
    app.put(
        &format!("/v1/contracts/{}/agreements", second.contract),
        &app.commissioner(),
        &json!({"agreements": [
            {"person_ref": first.p1, "need_bands": [{"from": "2025-01-06", "band": "high"}],
             "planned_sessions": [{"weekday": "monday", "session_type": "full_day"}], "start_date": "2025-01-06", "pathway": "therapeutic"}
        ]}),
    )
    .expect(200);
    let theirs = |monday: chrono::NaiveDate| {
        let mut register = second.register(monday);
        register["lines"].as_array_mut().unwrap().push(json!(
            {"person_ref": first.p1, "date": day(monday, 0), "session_type": "full_day", "status": "attended", "outcome_tags": ["life_goals"]}
        ));
        register["acknowledged_warnings"] = json!(["SUB-002"]);
        register
    };
    let ours = |monday: chrono::NaiveDate| {
        let mut register = first.register(monday);
        register["acknowledged_warnings"] = json!(["SUB-002"]);
        register
    };
    let weeks: Vec<chrono::NaiveDate> = (1..=8)
        .map(|k| last_week() - chrono::Days::new(7 * k))
        .collect();
    for monday in &weeks {
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| first.post(&app, &ours(*monday)));
            let b = scope.spawn(|| second.post(other_server, &theirs(*monday)));
            (a.join().unwrap(), b.join().unwrap())
        });
        a.expect(201);
        b.expect(201);
        let kept = [&a, &b]
            .iter()
            .filter(|r| r.body["status"] != "rejected")
            .count();
        assert_eq!(kept, 1, "week {monday}: {} / {}", a.text, b.text);
        let loser = if a.body["status"] == "rejected" {
            &a
        } else {
            &b
        };
        assert!(
            findings(loser).iter().any(|(code, _, _)| code == "REG-006"),
            "{}",
            loser.text
        );
    }

    // One week, in turn: the winner amends the morning to an absence; the loser's
    // amendment then keeps its session.
    let monday = last_week();
    first.post(&app, &ours(monday)).expect(201);
    let lost = second.post(&app, &theirs(monday));
    assert_eq!(lost.body["status"], "rejected");
    let won_id = app
        .get(
            &format!("/v1/registers?period_from={monday}&period_to={monday}"),
            &first.token,
        )
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut absent = ours(monday);
    absent["lines"][0]["status"] = json!("absent");
    absent["lines"][0]["absence_reason"] = json!("illness");
    absent["lines"][0]["outcome_tags"] = json!([]);
    let amend = |token: &str, id: &str, body: &Value| {
        app.request_with(
            "PUT",
            &format!("/v1/registers/{id}"),
            Some(token),
            Some(("application/json", body.to_string().into_bytes())),
            &[("If-Match", "\"v1\"")],
        )
    };
    amend(&first.token, &won_id, &absent).expect(200);
    let again = amend(
        &second.token,
        lost.body["id"].as_str().unwrap(),
        &theirs(monday),
    );
    again.expect(200);
    assert_ne!(again.body["status"], "rejected", "{}", again.text);
}

/// A stored line, as read straight from `register_lines`.
#[derive(Debug, PartialEq, diesel::QueryableByName)]
struct StoredLine {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    line_no: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    person_ref: String,
    #[diesel(sql_type = diesel::sql_types::Date)]
    date: chrono::NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Text)]
    session_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    absence_reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    notice_hours: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    one_to_one_quarter_hours: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    transport_journeys: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    meal: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    community_access: bool,
    #[diesel(sql_type = diesel::sql_types::Text)]
    outcome_tags: String,
}

/// The lines table holds each line as submitted, absent values as NULL (on PostgreSQL the
/// lines go in by COPY, on SQLite by multi-row INSERT).
#[test]
fn register_lines_are_stored_as_submitted() {
    use diesel::RunQueryDsl;

    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "L");
    let monday = last_week();
    let mut register = fx.register(monday);
    register["lines"][0]["outcome_tags"] = json!(["wellbeing", "independence"]);
    register["lines"][2] = json!({"person_ref": fx.p2, "date": day(monday, 1), "session_type": "pm",
        "status": "absent", "absence_reason": "illness", "notice_hours": 30});
    let r = fx.post(&app, &register);
    r.expect(201);
    let id = r.body["id"].as_str().unwrap().to_string();

    let mut sql = app.sql();
    let stored = dayops_persistence::load_sql!(
        &mut sql,
        "SELECT line_no, person_ref, date, session_type, status, absence_reason, notice_hours, \
         one_to_one_quarter_hours, transport_journeys, meal, community_access, outcome_tags \
         FROM register_lines WHERE submission_id = ? AND version = 1 ORDER BY line_no",
        StoredLine,
        [(diesel::sql_types::Text, &id)]
    )
    .unwrap();
    let date = |offset: u64| monday + chrono::Days::new(offset);
    let line = |line_no, person: &str, day, session: &str, status: &str| StoredLine {
        line_no,
        person_ref: person.to_string(),
        date: date(day),
        session_type: session.to_string(),
        status: status.to_string(),
        absence_reason: None,
        notice_hours: None,
        one_to_one_quarter_hours: None,
        transport_journeys: 0,
        meal: false,
        community_access: false,
        outcome_tags: String::new(),
    };
    assert_eq!(
        stored,
        [
            StoredLine {
                outcome_tags: "wellbeing,independence".into(),
                ..line(0, &fx.p1, 0, "am", "attended")
            },
            StoredLine {
                one_to_one_quarter_hours: Some(8),
                transport_journeys: 2,
                meal: true,
                ..line(1, &fx.p1, 2, "full_day", "attended")
            },
            StoredLine {
                absence_reason: Some("illness".into()),
                notice_hours: Some(30),
                ..line(2, &fx.p2, 1, "pm", "absent")
            },
        ]
    );
}

/// REG-013 (the rule catalogue's worked example): a person who attends while their care
/// plan review is more than 28 days overdue is warned about, once, at their first such
/// line; the register is still accepted.
#[test]
fn attendance_with_an_overdue_review_is_warned_about() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "REV");
    let monday = last_week();
    let mut p1 = fx.agreement_terms(&app, &fx.p1);
    p1["care_plan_review_due"] =
        json!(day(monday, 0).parse::<chrono::NaiveDate>().unwrap() - chrono::Days::new(30));
    fx.replace_agreements(&app, vec![p1]);
    let r = fx.post(&app, &fx.register(monday));
    r.expect(201);
    assert_eq!(r.body["status"], "accepted_with_warnings", "{}", r.text);
    assert_eq!(
        findings(&r),
        [f("REG-013", "warning", "/lines/0/person_ref")]
    );
}

/// AGR-007: an enabling placement attended more than twelve weeks after its start is
/// warned about on the register and on the claim drafted from it, whose line is still
/// priced; the council decides what follows.
#[test]
fn enablement_past_twelve_weeks_is_warned_about() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "ENB");
    let monday = last_week();
    let mut p2 = fx.agreement_terms(&app, &fx.p2);
    p2["pathway"] = json!("enabling");
    fx.replace_agreements(&app, vec![p2]);
    let r = fx.post(&app, &fx.register(monday));
    r.expect(201);
    assert_eq!(r.body["status"], "accepted_with_warnings", "{}", r.text);
    assert_eq!(findings(&r), [f("AGR-007", "warning", "/lines/2/date")]);

    let claim = fx.submit_drafted_claim(&app, monday);
    let stored = app.get(&format!("/v1/claims/{claim}"), &fx.token);
    assert_eq!(stored.body["status"], "accepted", "{}", stored.text);
    assert_eq!(
        stored.body["validation"]["outcome"],
        "accepted_with_warnings"
    );
    let lines = stored.body["lines"].as_array().unwrap();
    let flagged: Vec<&Value> = lines
        .iter()
        .filter(|l| l["findings"].as_array().is_some_and(|f| !f.is_empty()))
        .collect();
    assert_eq!(flagged.len(), 1, "{}", stored.text);
    assert_eq!(flagged[0]["person_ref"], fx.p2.as_str());
    assert_eq!(flagged[0]["item"], "session");
    assert_eq!(flagged[0]["findings"][0]["code"], "AGR-007");
    assert!(flagged[0]["accepted_amount_pence"].as_i64().unwrap() > 0);
}
