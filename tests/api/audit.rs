//! The audit trail as a transparency log: every change is an event, sequenced off the
//! request path into an RFC 9162 tree with signed checkpoints; receipts are proved offline;
//! the database refuses to alter the log, and every tampering is found and named.

use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use dayops_domain::audit::{chain_hash, AuditRecord, GENESIS_HASH};
use dayops_domain::tlog::Frontier;

use crate::support::{agreement_body, last_week, Fixture, Resp, TestApp};

#[test]
fn changes_are_logged_and_verified() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-AU-1");
    let patched = app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"capacity_per_session": 12}),
    );
    patched.expect(200);
    // Every write names the event that records it.
    let named = patched
        .header("audit-event-id")
        .expect("Audit-Event-Id")
        .to_string();
    app.post(
        &format!("/v1/contracts/{contract}/rate-matrices"),
        &c,
        &json!({"effective_from": "2025-04-01", "cells": [{"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 450}]}),
    )
    .expect(201);
    let upserted = app.put(
        &format!("/v1/contracts/{contract}/agreements"),
        &c,
        &json!({"agreements": [agreement_body("P1"), agreement_body("P2")]}),
    );
    upserted.expect(200);
    let agreement_events: Vec<&str> = upserted.body["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["audit_event_id"].as_str().unwrap())
        .collect();
    assert_eq!(agreement_events.len(), 2);
    // A refused change leaves no event.
    app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"capacity_per_session": 0}),
    )
    .expect(422);

    let checkpoint = app.sequenced();
    assert_eq!(checkpoint["tree_size"], json!(6));
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
    // Each event is a leaf: its hash is RFC 9162's over the canonical record, and the
    // leaves give the signed head.
    let mut frontier = Frontier::new();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["seq"], json!(i + 1));
        assert!(item["event_id"].is_string() && item["sequenced_at"].is_string());
        if i >= 4 {
            assert_eq!(item["event_id"], json!(agreement_events[i - 4]));
        }
        assert!(
            item.get("prev_hash").is_none(),
            "no chain after the log began"
        );
        let leaf = record_of(item).leaf_hash();
        assert_eq!(item["leaf_hash"], json!(b64(&leaf)));
        frontier.push(leaf);
    }
    assert_eq!(checkpoint["root_hash"], json!(b64(&frontier.root())));
    let filtered = app.get(
        &format!("/v1/audit-events?entity=contract&entity_id={contract}"),
        &c,
    );
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 2);
    let by_id = app.get(&format!("/v1/audit-events?event_id={named}"), &c);
    assert_eq!(by_id.body["items"][0]["action"], json!("update"));
    assert_eq!(by_id.body["items"][0]["seq"], json!(3));
    let proof = app.get(&format!("/v1/audit-events/{named}/proof"), &app.auditor());
    proof.expect(200);
    assert_eq!(proof.body["seq"], json!(3));

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
    assert_eq!(&headers[10], "leaf_hash");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(items) {
        assert_eq!(
            row[0].parse::<i64>().unwrap(),
            item["seq"].as_i64().unwrap()
        );
        assert_eq!(&row[2], item["actor"]["sub"].as_str().unwrap());
        assert_eq!(&row[4], item["action"].as_str().unwrap());
        assert_eq!(&row[10], item["leaf_hash"].as_str().unwrap());
    }

    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    verify.expect(200);
    assert_eq!(verify.body["verified"], json!(true), "{}", verify.text);
    assert_eq!(verify.body["events"], json!(6));
    assert_eq!(verify.body["head_hash"], checkpoint["root_hash"]);
    // The sequencer may have signed one of its own before the one asked for.
    assert!(verify.body["checkpoints"].as_u64().unwrap() >= 1);
    assert!(verify.body["first_broken_seq"].is_null());

    // The database itself refuses to alter or remove events, subtrees and checkpoints.
    let mut sql = app.sql();
    for statement in [
        "UPDATE audit_events SET actor_sub = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 6",
        "UPDATE audit_tree SET idx = idx + 100 WHERE level = 0 AND idx = 1",
        "DELETE FROM audit_tree WHERE level = 0 AND idx = 5",
        "DELETE FROM audit_checkpoints",
    ] {
        assert!(sql.batch_execute(statement).is_err(), "{statement}");
    }
    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(verify.body["verified"], json!(true));
}

#[test]
fn concurrent_writers_are_all_logged() {
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
    app.sequenced();
    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(verify.body["verified"], json!(true), "{}", verify.text);
    assert_eq!(verify.body["events"], json!(41));
    assert_eq!(verify.body["pending"], json!(0));
}

/// The record of an event as the API answers it, to recompute its leaf.
fn record_of(event: &Value) -> AuditRecord {
    AuditRecord {
        seq: event["seq"].as_i64().unwrap(),
        at: event["at"].as_str().unwrap().parse().unwrap(),
        actor_sub: event["actor"]["sub"].as_str().unwrap().into(),
        actor_role: event["actor"]["role"].as_str().unwrap().into(),
        action: event["action"].as_str().unwrap().into(),
        entity: event["entity"].as_str().unwrap().into(),
        entity_id: event["entity_id"].as_str().unwrap().into(),
        version: event["version"].as_i64().map(|v| v as i32),
        content_sha256: event["content_sha256"].as_str().map(str::to_string),
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A provider keeps its receipt, the checkpoint and the proof, and checks them later with
/// the log's public key alone; a newer checkpoint is proved to extend the one it kept.
#[test]
fn a_receipt_is_proved_offline_with_the_public_key_alone() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "R");
    let monday = last_week();
    let stored = fx.post(&app, &fx.register(monday));
    stored.expect(201);
    let event_id = stored.body["audit_event_id"].as_str().unwrap().to_string();

    app.sequenced();
    let kept = app.get("/v1/audit/checkpoint", &fx.token);
    kept.expect(200);
    let proof = app.get(&format!("/v1/audit-events/{event_id}/proof"), &fx.token);
    proof.expect(200);
    assert_eq!(proof.body["event"]["event_id"], json!(event_id));
    assert_eq!(proof.body["event"]["entity_id"], stored.body["id"]);
    assert_eq!(proof.body["tree_size"], kept.body["tree_size"]);
    assert_eq!(proof.body["checkpoint"], kept.body["note"]);
    // The receipt's event records the register as stored.
    assert_eq!(
        proof.body["event"]["content_sha256"],
        app.get(
            &format!("/v1/audit-events?event_id={event_id}"),
            &app.auditor()
        )
        .body["items"][0]["content_sha256"]
    );

    let dir = tempfile::tempdir().unwrap();
    let key = kept.body["public_key"].as_str().unwrap().to_string();
    let note = write(&dir, "checkpoint.txt", kept.body["note"].as_str().unwrap());
    let proof_file = write(&dir, "proof.json", &proof.text);
    let out = app.dayops(&[
        "log",
        "verify-receipt",
        "--key",
        &key,
        "--checkpoint",
        &note,
        "--proof",
        &proof_file,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is in"));
    // The same key from the operator's own command.
    let printed = app.dayops(&["log", "public-key"]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), key);

    // Another provider, and any event not about the provider's own submissions, is 404.
    let other = app.provider(&app.create_provider("Someone Else"));
    app.get(&format!("/v1/audit-events/{event_id}/proof"), &other)
        .expect(404);
    app.get("/v1/audit-events/1/proof", &fx.token).expect(404);

    // More history; the provider proves the new head extends the one it kept.
    fx.post(&app, &fx.register(monday - chrono::Days::new(7)))
        .expect(201);
    let newer = app.sequenced();
    let (old_size, new_size) = (
        kept.body["tree_size"].as_u64().unwrap(),
        newer["tree_size"].as_u64().unwrap(),
    );
    assert!(new_size > old_size);
    let consistency = app.get(
        &format!("/v1/audit/consistency?from={old_size}&to={new_size}"),
        &fx.token,
    );
    consistency.expect(200);
    assert_eq!(consistency.body["from_root"], kept.body["root_hash"]);
    assert_eq!(consistency.body["to_root"], newer["root_hash"]);
    let reproved = app.get(
        &format!("/v1/audit-events/{event_id}/proof?tree_size={new_size}"),
        &fx.token,
    );
    reproved.expect(200);
    let new_note = write(&dir, "newer.txt", newer["note"].as_str().unwrap());
    let reproof = write(&dir, "reproof.json", &reproved.text);
    let consistency_file = write(&dir, "consistency.json", &consistency.text);
    let verify = |checkpoint: &str, proof: &str, consistency: &str| {
        app.dayops(&[
            "log",
            "verify-receipt",
            "--key",
            &key,
            "--checkpoint",
            checkpoint,
            "--proof",
            proof,
            "--old-checkpoint",
            &note,
            "--consistency",
            consistency,
        ])
    };
    let out = verify(&new_note, &reproof, &consistency_file);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("extends"));

    // A forged receipt, a proof for another tree, a broken consistency proof, a note
    // signed by another key: each is refused.
    let mut forged: Value = reproved.body.clone();
    forged["event"]["entity_id"] = json!("forged");
    let forged = write(&dir, "forged.json", &forged.to_string());
    let out = verify(&new_note, &forged, &consistency_file);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT in the log"),
        "{out:?}"
    );
    let out = verify(&new_note, &proof_file, &consistency_file);
    assert!(!out.status.success());
    let mut broken: Value = consistency.body.clone();
    broken["proof"][0] = json!(b64(&[7u8; 32]));
    let broken = write(&dir, "broken.json", &broken.to_string());
    let out = verify(&new_note, &reproof, &broken);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rewritten"),
        "{out:?}"
    );
    let stranger = dayops_domain::note::LogSigner::from_seed("test.dayops.local/audit", [3; 32])
        .unwrap()
        .verifier()
        .encode();
    let out = app.dayops(&[
        "log",
        "verify-receipt",
        "--key",
        &stranger,
        "--checkpoint",
        &note,
        "--proof",
        &proof_file,
    ]);
    assert!(!out.status.success());

    // No proof exists for a size the log has not reached, nor backwards: 404.
    app.get(
        &format!(
            "/v1/audit-events/{event_id}/proof?tree_size={}",
            new_size + 10
        ),
        &fx.token,
    )
    .expect(404);
    app.get(
        &format!("/v1/audit/consistency?from={new_size}&to={old_size}"),
        &fx.token,
    )
    .expect(404);
}

/// A history with every kind of content the log covers: reference data, a register, and a
/// claim priced, approved and paid. Returns the app, its signed checkpoint and its size.
fn history() -> (TestApp, Value) {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "T");
    let monday = last_week();
    fx.post(&app, &fx.register(monday)).expect(201);
    let id = fx.submit_drafted_claim(&app, monday);
    app.approve_and_pay(&id, "BACS-1");
    let checkpoint = app.sequenced();
    let verify = app.get("/v1/audit-events/verify", &app.auditor());
    assert_eq!(verify.body["verified"], json!(true), "{}", verify.text);
    (app, checkpoint)
}

/// Lifts the database's refusal to change the log, as someone with database access can.
fn drop_guards(app: &TestApp) {
    let sql = if app.is_postgres() {
        "ALTER TABLE audit_events DISABLE TRIGGER USER; \
         ALTER TABLE audit_tree DISABLE TRIGGER USER; \
         ALTER TABLE audit_checkpoints DISABLE TRIGGER USER;"
    } else {
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; \
         DROP TRIGGER audit_tree_no_update; DROP TRIGGER audit_tree_no_delete; \
         DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;"
    };
    app.sql().batch_execute(sql).unwrap();
}

fn verify(app: &TestApp) -> Resp {
    let r = app.get("/v1/audit-events/verify", &app.auditor());
    r.expect(200);
    r
}

/// Tampers with a fresh history by `sql` and checks that verification fails at `seq`
/// (when given) and names the tampering with `named`.
fn detected(sql: &str, seq: Option<i64>, named: &str) {
    let (app, _) = history();
    drop_guards(&app);
    app.sql().batch_execute(sql).unwrap();
    let r = verify(&app);
    assert_eq!(r.body["verified"], json!(false), "{sql}: {}", r.text);
    if let Some(seq) = seq {
        assert_eq!(r.body["first_broken_seq"], json!(seq), "{sql}: {}", r.text);
    }
    let broken = r.body["broken"].as_str().unwrap();
    assert!(broken.contains(named), "{sql}: {broken}");
    // The command line says the same, and fails.
    let out = app.dayops(&["audit", "verify"]);
    assert!(!out.status.success(), "{sql}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(named),
        "{out:?}"
    );
}

#[test]
fn an_edited_event_field_or_hash_is_found_at_its_seq() {
    detected(
        "UPDATE audit_events SET actor_sub = 'mallory' WHERE seq = 3",
        Some(3),
        "does not match its leaf",
    );
    detected(
        "UPDATE audit_tree SET hash = (SELECT hash FROM audit_tree WHERE level = 0 AND idx = 0) \
         WHERE level = 0 AND idx = 4",
        Some(5),
        "does not match its leaf",
    );
    detected(
        "UPDATE audit_tree SET hash = (SELECT hash FROM audit_tree WHERE level = 0 AND idx = 0) \
         WHERE level = 1 AND idx = 1",
        None,
        "subtree at level 1, index 1",
    );
}

#[test]
fn a_deleted_reordered_or_truncated_event_is_found() {
    detected(
        "DELETE FROM audit_events WHERE seq = 4",
        Some(4),
        "event 4 is missing",
    );
    detected(
        "UPDATE audit_events SET seq = -2 WHERE seq = 2; \
         UPDATE audit_events SET seq = 2 WHERE seq = 3; \
         UPDATE audit_events SET seq = 3 WHERE seq = -2;",
        Some(2),
        "does not match its leaf",
    );
    detected(
        "DELETE FROM audit_events WHERE seq > 5",
        Some(6),
        "events were removed",
    );
}

#[test]
fn edited_content_is_found_through_its_event() {
    detected(
        "UPDATE submission_versions SET body = replace(body, 'wellbeing', 'wellbeinG')",
        None,
        "its stored body does not match",
    );
    detected(
        "UPDATE claim_lines SET accepted_amount_pence = accepted_amount_pence * 10 WHERE line_no = 0",
        None,
        "its stored price rows do not match",
    );
    detected(
        "UPDATE claim_states SET decision_reason = 'forged'",
        None,
        "its stored decision does not match",
    );
    detected(
        "UPDATE claim_states SET remittance_ref = 'BACS-999'",
        None,
        "its stored payment does not match",
    );
}

/// Binary literal of a hash for the back end's SQL.
fn bytes_sql(app: &TestApp, hash: &[u8]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    if app.is_postgres() {
        format!("'\\x{hex}'::bytea")
    } else {
        format!("X'{hex}'")
    }
}

/// Rewrites the stored tree from the events as they now stand, as a forger who edited an
/// event would to cover it up.
fn rebuild_tree(app: &TestApp) {
    let events = app.get("/v1/audit-events?limit=500", &app.auditor());
    let mut frontier = Frontier::new();
    // One transaction: the sequencer, seeing events without leaves, would otherwise fill
    // the emptied tree itself before the forger's rows go in.
    let mut sql = String::from("BEGIN; DELETE FROM audit_tree;");
    for event in events.body["items"].as_array().unwrap() {
        for (level, idx, hash) in frontier.push(record_of(event).leaf_hash()) {
            sql.push_str(&format!(
                "INSERT INTO audit_tree (level, idx, hash) VALUES ({level}, {idx}, {});",
                bytes_sql(app, &hash)
            ));
        }
    }
    sql.push_str("COMMIT;");
    app.sql().batch_execute(&sql).unwrap();
}

/// Without any checkpoint, only a rewrite of the whole log (events, tree and signed
/// checkpoints) passes; a checkpoint kept outside the database catches it, and a
/// truncation covered up the same way.
#[test]
fn a_rewrite_is_caught_by_the_signed_checkpoints() {
    let (app, checkpoint) = history();
    let dir = tempfile::tempdir().unwrap();
    let kept = write(&dir, "kept.txt", checkpoint["note"].as_str().unwrap());
    let out = app.dayops(&["audit", "verify", "--checkpoint", &kept]);
    assert!(out.status.success(), "{out:?}");
    drop_guards(&app);

    // Rewritten from event 4 on, the tree recomputed: the stored signed checkpoint no
    // longer matches, and a forger cannot sign another.
    app.sql()
        .batch_execute("UPDATE audit_events SET actor_sub = 'mallory' WHERE seq = 4")
        .unwrap();
    rebuild_tree(&app);
    let r = verify(&app);
    assert_eq!(r.body["verified"], json!(false));
    assert!(
        r.body["broken"]
            .as_str()
            .unwrap()
            .contains("signed checkpoint at size"),
        "{}",
        r.text
    );
    // Nor does the log sign over it: the next checkpoint is refused.
    app.create_provider("After the rewrite");
    let refused = app.post("/v1/audit/checkpoint", &app.auditor(), &json!({}));
    refused.expect(409);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("rewritten"));

    // The stored checkpoints removed too: a full rewrite, which the database alone cannot
    // tell. The checkpoint kept outside it can.
    app.sql()
        .batch_execute("DELETE FROM audit_checkpoints")
        .unwrap();
    assert_eq!(verify(&app).body["verified"], json!(true));
    let size = checkpoint["tree_size"].as_u64().unwrap();
    let root = checkpoint["root_hash"].as_str().unwrap();
    let against = app.get(
        &format!(
            "/v1/audit-events/verify?checkpoint={size}:{}",
            root.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        ),
        &app.auditor(),
    );
    assert_eq!(against.body["verified"], json!(false), "{}", against.text);
    assert_eq!(against.body["checkpoint"], json!("differs"));
    let out = app.dayops(&["audit", "verify", "--checkpoint", &kept]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rewritten")
            || String::from_utf8_lossy(&out.stderr).contains("does not match"),
        "{out:?}"
    );

    // Truncated and covered up: the last events removed, the tree rebuilt without them.
    // The database alone still shows it, through the stored submissions those events
    // recorded; the kept checkpoint names it.
    app.sql()
        .batch_execute("DELETE FROM audit_events WHERE seq > 5")
        .unwrap();
    rebuild_tree(&app);
    let r = verify(&app);
    assert_eq!(r.body["verified"], json!(false));
    assert!(
        r.body["broken"]
            .as_str()
            .unwrap()
            .contains("has no audit event"),
        "{}",
        r.text
    );
    let out = app.dayops(&["audit", "verify", "--checkpoint", &kept]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("events were removed"),
        "{out:?}"
    );
    let r = app.get("/v1/audit-events/verify?checkpoint=5", &app.auditor());
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/checkpoint"]);
}

/// A database the previous release left (the hash chain, no log) upgrades: its events
/// become the log's first leaves in their order, keep their chain hashes, and verify;
/// new events follow them.
#[test]
fn an_upgraded_database_keeps_its_chain_as_the_first_leaves() {
    let mut records = Vec::new();
    let app = TestApp::upgraded_from(8, |conn| {
        let mut prev = GENESIS_HASH.to_string();
        let mut sql = String::new();
        for seq in 1..=5i64 {
            let record = AuditRecord {
                seq,
                at: format!("2026-11-2{seq}T10:00:00.123456Z").parse().unwrap(),
                actor_sub: "commissioner-user".into(),
                actor_role: "commissioner".into(),
                action: "create".into(),
                entity: "provider".into(),
                entity_id: format!("old-{seq}"),
                version: None,
                content_sha256: Some("ab".repeat(32)),
            };
            let hash = chain_hash(&prev, &record);
            sql.push_str(&format!(
                "INSERT INTO audit_events (seq, at, actor_sub, actor_role, action, entity, entity_id, \
                 version, content_sha256, prev_hash, hash) VALUES ({seq}, '2026-11-2{seq} 10:00:00.123456', \
                 'commissioner-user', 'commissioner', 'create', 'provider', 'old-{seq}', NULL, '{}', '{prev}', '{hash}');",
                "ab".repeat(32)
            ));
            prev = hash;
            records.push(record);
        }
        sql.push_str(&format!("UPDATE audit_head SET seq = 5, hash = '{prev}';"));
        conn.batch_execute(&sql).unwrap();
    });
    app.create_provider("After the upgrade");
    let checkpoint = app.sequenced();
    assert_eq!(checkpoint["tree_size"], json!(6));
    let events = app.get("/v1/audit-events", &app.auditor());
    let items = events.body["items"].as_array().unwrap();
    let mut frontier = Frontier::new();
    for (item, record) in items.iter().zip(&records) {
        assert_eq!(item["entity_id"], json!(record.entity_id));
        assert!(item["hash"].is_string() && item["prev_hash"].is_string());
        assert_eq!(item["leaf_hash"], json!(b64(&record.leaf_hash())));
    }
    for item in items {
        frontier.push(record_of(item).leaf_hash());
    }
    assert_eq!(items[5]["entity"], json!("provider"));
    assert!(items[5].get("hash").is_none());
    assert_eq!(checkpoint["root_hash"], json!(b64(&frontier.root())));
    let r = verify(&app);
    assert_eq!(r.body["verified"], json!(true), "{}", r.text);
    assert_eq!(r.body["events"], json!(6));

    // The old chain is still checked as a chain.
    drop_guards(&app);
    app.sql()
        .batch_execute("UPDATE audit_events SET hash = prev_hash WHERE seq = 2")
        .unwrap();
    let r = verify(&app);
    assert_eq!(r.body["first_broken_seq"], json!(2), "{}", r.text);
    assert!(r.body["broken"].as_str().unwrap().contains("chain hash"));
}

/// Polls the log until it holds `events` events (the sequencer runs in other processes).
fn wait_for_events(app: &TestApp, events: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let listed = app.get("/v1/audit-events", &app.auditor());
        let n = listed.body["items"].as_array().map_or(0, Vec::len);
        if n >= events {
            assert_eq!(n, events);
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} of {events} events sequenced"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The sequencer runs in serve processes: one leads (on PostgreSQL by an advisory lock)
/// and, when its process is killed, another takes over. This test's own server takes no
/// part, so only the two child processes can sequence.
#[test]
fn another_process_takes_over_sequencing_when_the_leader_dies() {
    let app = TestApp::spawn_with(|config| config.sequencer = false);
    let first = app.second_server();
    let provider = app.create_provider("Before the failover");
    wait_for_events(&app, 1);
    let second = app.second_server();
    // SIGKILL: no graceful release; PostgreSQL frees the lock when the session ends.
    drop(first);
    app.create_contract(&provider, "NCC-FO-1");
    wait_for_events(&app, 2);
    let verify = verify(&app);
    assert_eq!(verify.body["verified"], json!(true), "{}", verify.text);
    drop(second);
}
