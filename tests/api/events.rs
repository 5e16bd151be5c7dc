//! The event feed end to end: what a provider hears of its own objects (and nothing of
//! another's), one order that a cursor reads the same way every time, type filters, long
//! polling, and lists that take `updated_since`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{agreement_body, last_week, Fixture, TestApp};

fn feed(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app.get(&format!("/v1/events?{query}"), token);
    r.expect(200);
    r.body
}

fn types(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_provider_hears_of_its_own_objects_in_one_order() {
    let app = TestApp::spawn();
    let a = Fixture::new(&app, "EA");
    let b = Fixture::new(&app, "EB");
    let c = app.commissioner();
    let monday = last_week();
    a.post(&app, &a.register(monday)).expect(201);
    b.post(&app, &b.register(monday)).expect(201);
    let claim = a.submit_drafted_claim(&app, monday);
    app.approve_and_pay(&claim, "BACS-EA-1");
    // A new placement, then a change of band and an end date for it.
    let path = format!("/v1/contracts/{}/agreements", a.contract);
    let mut placed = agreement_body("EA-NEW");
    placed["start_date"] = json!("2025-01-06");
    placed["need_bands"] = json!([{"from": "2025-01-06", "band": "medium"}]);
    app.put(&path, &c, &json!({"agreements": [placed.clone()]}))
        .expect(200);
    placed["need_bands"] = json!([{"from": "2025-01-06", "band": "high"}]);
    app.put(&path, &c, &json!({"agreements": [placed.clone()]}))
        .expect(200);
    placed["end_date"] = json!("2027-01-01");
    app.put(&path, &c, &json!({"agreements": [placed]}))
        .expect(200);
    app.sequenced();

    let own = feed(&app, &a.token, "limit=500");
    assert_eq!(
        types(&own),
        [
            "contract.created",
            "rate_matrix.created",
            "agreement.placed",
            "agreement.placed",
            "register.created",
            "claim.created",
            "claim.approved",
            "claim.paid",
            "agreement.placed",
            "agreement.changed",
            "agreement.ended",
        ]
    );
    let items = own["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["provider_id"] == a.provider));
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let paid = &items[7];
    assert_eq!(paid["object_id"], claim);
    assert_eq!(paid["payload"]["status"], "paid");
    assert_eq!(paid["payload"]["remittance_ref"], "BACS-EA-1");
    assert!(paid["payload"]["accepted_total_pence"].as_i64().unwrap() > 0);
    assert_eq!(items[4]["payload"]["status"], "accepted");
    assert_eq!(items[4]["payload"]["errors"], 0);
    let changed = &items[9]["payload"];
    assert_eq!(changed["person_ref"], "EA-NEW");
    assert_eq!(changed["changed"], json!(["need_bands"]));
    // Of the person, only the reference travels.
    let members: Vec<&String> = changed.as_object().unwrap().keys().collect();
    assert_eq!(members, ["changed", "contract_id", "person_ref"]);
    assert_eq!(items[10]["payload"]["changed"], json!(["end_date"]));

    // The other provider hears nothing of these; the council hears both.
    let theirs = feed(&app, &b.token, "limit=500");
    assert!(theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["provider_id"] == b.provider));
    assert_eq!(types(&theirs).len(), 5);
    let all = feed(&app, &app.auditor(), "limit=500");
    assert_eq!(types(&all).len(), types(&own).len() + 5);

    // Pages of three, followed by their cursors, read the whole feed once; the same cursor
    // answers the same events again.
    let mut paged = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let page = feed(&app, &a.token, &format!("after={cursor}&limit=3"));
        let again = feed(&app, &a.token, &format!("after={cursor}&limit=3"));
        assert_eq!(page, again);
        if page["items"].as_array().unwrap().is_empty() {
            assert_eq!(page["next_cursor"], cursor.as_str());
            break;
        }
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().unwrap().to_string();
    }
    assert_eq!(&paged, items);

    // Only the types asked for; an unknown type is a 422 naming the parameter.
    let money = feed(&app, &a.token, "types=claim.approved,claim.paid");
    assert_eq!(types(&money), ["claim.approved", "claim.paid"]);
    for types in ["claim.refunded", "", "claim.paid,"] {
        let r = app.get(&format!("/v1/events?types={types}"), &a.token);
        r.expect(422);
        assert_eq!(r.pointers(), ["/query/types"]);
    }
    app.get("/v1/events?wait=31", &a.token).expect(422);
    app.request("GET", "/v1/events", None, None).expect(401);
}

#[test]
fn a_long_poll_answers_when_the_next_event_arrives() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "EL");
    app.sequenced();
    let last = feed(&app, &fx.token, "limit=500")["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::scope(|s| {
        let waiting = s.spawn(|| feed(&app, &fx.token, &format!("after={last}&wait=20")));
        std::thread::sleep(Duration::from_millis(500));
        fx.post(&app, &fx.register(last_week())).expect(201);
        let answer = waiting.join().unwrap();
        assert_eq!(types(&answer), ["register.created"]);
    });
}

/// Lists take `updated_since`: a back office that polls reads only what changed.
#[test]
fn lists_take_updated_since() {
    let app = TestApp::spawn();
    let a = Fixture::new(&app, "EU");
    let b = Fixture::new(&app, "EV");
    let c = app.commissioner();
    let monday = last_week();
    a.post(&app, &a.register(monday)).expect(201);
    b.post(&app, &b.register(monday)).expect(201);
    let claim = a.submit_drafted_claim(&app, monday);
    b.submit_drafted_claim(&app, monday);
    std::thread::sleep(Duration::from_millis(20));
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let since = since.replace('+', "%2B");
    std::thread::sleep(Duration::from_millis(20));
    let decision = json!({"decision": "approve", "reason": "matches the registers"});
    app.post(&format!("/v1/claims/{claim}/decision"), &c, &decision)
        .expect(200);
    app.patch(
        &format!("/v1/contracts/{}", b.contract),
        &c,
        &json!({"capacity_per_session": 25}),
    )
    .expect(200);
    let mut changed = agreement_body(&format!("{}P1", "EU"));
    changed["start_date"] = json!("2025-01-06");
    changed["need_bands"] = json!([{"from": "2025-01-06", "band": "high"}]);
    app.put(
        &format!("/v1/contracts/{}/agreements", a.contract),
        &c,
        &json!({"agreements": [changed]}),
    )
    .expect(200);

    let ids = |path: &str| -> Vec<String> {
        let r = app.get(path, &c);
        r.expect(200);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&format!("/v1/claims?updated_since={since}")),
        std::slice::from_ref(&claim)
    );
    assert_eq!(
        ids(&format!("/v1/submissions?updated_since={since}")),
        [claim]
    );
    assert_eq!(
        ids(&format!("/v1/contracts?updated_since={since}")),
        std::slice::from_ref(&b.contract)
    );
    let agreements = ids(&format!(
        "/v1/contracts/{}/agreements?updated_since={since}",
        a.contract
    ));
    assert_eq!(agreements.len(), 1);
    assert!(ids(&format!(
        "/v1/contracts/{}/agreements?updated_since={since}",
        b.contract
    ))
    .is_empty());
    assert_eq!(ids("/v1/claims").len(), 2);
}
