//! The audit chain: every reference-data change is an event, the chain verifies, and
//! the database refuses to alter events.

use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::support::{agreement_body, TestApp};

#[test]
fn changes_are_chained_and_verified() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-AU-1");
    app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"capacity_per_session": 12}),
    )
    .expect(200);
    app.post(
        &format!("/v1/contracts/{contract}/rate-matrices"),
        &c,
        &json!({"effective_from": "2025-04-01", "cells": [{"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 450}]}),
    )
    .expect(201);
    app.put(
        &format!("/v1/contracts/{contract}/agreements"),
        &c,
        &json!({"agreements": [agreement_body("P1"), agreement_body("P2")]}),
    )
    .expect(200);
    // A refused change leaves no event.
    app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"capacity_per_session": 0}),
    )
    .expect(422);

    let events = app.get("/v1/audit-events?limit=500", &app.auditor());
    events.expect(200);
    let items = events.body["items"].as_array().unwrap();
    let summary: Vec<_> = items
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["entity"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("create", "provider"),
            ("create", "contract"),
            ("update", "contract"),
            ("create", "rate_matrix_version"),
            ("create", "agreement"),
            ("create", "agreement"),
        ]
    );
    assert_eq!(
        items[1]["actor"],
        json!({"sub": "commissioner-user", "role": "commissioner"})
    );
    for pair in items.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64().unwrap(),
            pair[0]["seq"].as_i64().unwrap() + 1
        );
    }
    let filtered = app.get(
        &format!("/v1/audit-events?entity=contract&entity_id={contract}"),
        &c,
    );
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 2);

    // The same events as CSV, every one in a single export.
    let csv = app.request_with(
        "GET",
        "/v1/audit-events",
        Some(&app.auditor()),
        None,
        &[("Accept", "text/csv")],
    );
    csv.expect(200);
    let mut reader = csv::Reader::from_reader(csv.bytes.as_slice());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "seq");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(items) {
        assert_eq!(
            row[0].parse::<i64>().unwrap(),
            item["seq"].as_i64().unwrap()
        );
        assert_eq!(&row[2], item["actor"]["sub"].as_str().unwrap());
        assert_eq!(&row[4], item["action"].as_str().unwrap());
        assert_eq!(&row[10], item["hash"].as_str().unwrap());
    }

    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    verify.expect(200);
    assert_eq!(verify.body["verified"], json!(true));
    assert_eq!(verify.body["events"], json!(6));
    assert_eq!(verify.body["head_hash"], items[5]["hash"]);
    assert!(verify.body["first_broken_seq"].is_null());

    // The database itself refuses to alter or remove events.
    let mut sql = app.sql();
    assert!(sql
        .batch_execute("UPDATE audit_events SET actor_sub = 'mallory' WHERE seq = 2")
        .is_err());
    assert!(sql
        .batch_execute("DELETE FROM audit_events WHERE seq = 6")
        .is_err());
    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(verify.body["verified"], json!(true));
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let app = TestApp::spawn();
    let provider = app.create_provider("Riverside");
    std::thread::scope(|scope| {
        for t in 0..8 {
            let app = &app;
            let provider = provider.clone();
            scope.spawn(move || {
                for i in 0..5 {
                    app.create_contract(&provider, &format!("NCC-CC-{t}-{i}"));
                }
            });
        }
    });
    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(verify.body["verified"], json!(true), "{}", verify.text);
    assert_eq!(verify.body["events"], json!(41));
}

/// Someone with database access drops the guard and edits an event: `verify` (API and
/// command line) names the event. Then they cut the chain's end and fix the head row to
/// match: the chain verifies on its own, but not against a checkpoint kept elsewhere.
#[test]
fn tampering_is_found_at_its_seq_and_truncation_by_the_checkpoint() {
    let app = TestApp::spawn();
    let provider = app.create_provider("Tamper Ltd");
    for i in 0..4 {
        app.create_contract(&provider, &format!("NCC-TA-{i}"));
    }
    // Events 1..=5. A checkpoint of the head, kept outside the database.
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint.json");
    let out = app.dayops(&["audit", "checkpoint", "--out", checkpoint.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    assert_eq!(kept["seq"], json!(5));
    let out = app.dayops(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");

    let mut sql = app.sql();
    let (drop_guard, restore_guard) = if app.is_postgres() {
        (
            "ALTER TABLE audit_events DISABLE TRIGGER USER",
            "ALTER TABLE audit_events ENABLE TRIGGER USER",
        )
    } else {
        (
            "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete",
            "SELECT 1",
        )
    };
    sql.batch_execute(drop_guard).unwrap();
    sql.batch_execute("UPDATE audit_events SET actor_sub = 'mallory' WHERE seq = 3")
        .unwrap();
    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(verify.body["verified"], json!(false));
    assert_eq!(verify.body["first_broken_seq"], json!(3));
    assert_eq!(verify.body["events"], json!(2));
    let out = app.dayops(&["audit", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken at seq 3"));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["first_broken_seq"], json!(3));
    sql.batch_execute("UPDATE audit_events SET actor_sub = 'commissioner-user' WHERE seq = 3")
        .unwrap();
    assert_eq!(
        app.get("/v1/audit-events/verify", &app.auditor()).body["verified"],
        json!(true)
    );

    // Truncation covered up: the last two events removed and the head row rewound.
    sql.batch_execute(
        "DELETE FROM audit_events WHERE seq > 3; \
         UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)",
    )
    .unwrap();
    sql.batch_execute(restore_guard).unwrap();
    let alone = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(alone.body["verified"], json!(true), "{}", alone.text);
    assert_eq!(alone.body["head_seq"], json!(3));
    let against = app.get(
        &format!(
            "/v1/audit-events/verify?checkpoint_seq=5&checkpoint_hash={}",
            kept["hash"].as_str().unwrap()
        ),
        &app.auditor(),
    );
    assert_eq!(against.body["verified"], json!(false));
    assert_eq!(against.body["checkpoint"], json!("missing"));
    let out = app.dayops(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("events were removed"),
        "{out:?}"
    );
    let r = app.get("/v1/audit-events/verify?checkpoint_seq=5", &app.auditor());
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/checkpoint_hash"]);
}
