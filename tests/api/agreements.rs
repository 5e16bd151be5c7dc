//! Bulk upsert of agreements: one transaction, idempotent, keyed by person.

use serde_json::{json, Value};

use crate::support::{agreement_body, TestApp};

fn batch(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| agreement_body(&format!("P{i:06}")))
        .collect()
}

fn count(app: &TestApp, contract: &str) -> usize {
    let mut total = 0;
    let mut cursor = String::new();
    loop {
        let page = app.get(
            &format!("/v1/contracts/{contract}/agreements?limit=500{cursor}"),
            &app.commissioner(),
        );
        page.expect(200);
        total += page.body["items"].as_array().unwrap().len();
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return total,
        }
    }
}

#[test]
fn five_thousand_agreements_in_one_transaction() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-A-1");
    let path = format!("/v1/contracts/{contract}/agreements");

    // One invalid row among 5,000: nothing is stored and the row is named.
    let mut agreements = batch(5_000);
    agreements[4_321]["need_bands"][0]["band"] = json!("platinum");
    let r = app.put(&path, &c, &json!({"agreements": agreements}));
    r.expect(422);
    assert_eq!(r.pointers(), ["/agreements/4321/need_bands/0/band"]);
    assert_eq!(count(&app, &contract), 0);

    // The same batch, corrected, is stored whole.
    let agreements = batch(5_000);
    let r = app.put(&path, &c, &json!({"agreements": agreements}));
    r.expect(200);
    assert_eq!(
        (
            r.body["created"].clone(),
            r.body["updated"].clone(),
            r.body["unchanged"].clone()
        ),
        (json!(5000), json!(0), json!(0))
    );
    assert_eq!(count(&app, &contract), 5_000);

    // The nightly export again, with two changes: only those are written.
    let mut again = batch(5_000);
    again[7]["suspensions"] =
        json!([{"from": "2025-05-12", "to": "2025-05-14", "reason": "hospital admission"}]);
    again[9]["need_bands"] =
        json!([{"from": "2025-04-01", "band": "medium"}, {"from": "2025-06-04", "band": "high"}]);
    again.push(agreement_body("P999999"));
    let r = app.put(&path, &c, &json!({"agreements": again}));
    r.expect(200);
    assert_eq!(
        (
            r.body["created"].clone(),
            r.body["updated"].clone(),
            r.body["unchanged"].clone()
        ),
        (json!(1), json!(2), json!(4998))
    );
    let id = r.body["agreements"][7]["id"].as_str().unwrap();
    let stored = app.get(&format!("/v1/agreements/{id}"), &c);
    assert_eq!(stored.body["person_ref"], "P000007");
    assert_eq!(
        stored.body["suspensions"][0]["reason"],
        "hospital admission"
    );
    assert_eq!(stored.body["contract_id"], json!(contract));
}

#[test]
fn batch_rules() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-A-2");
    let path = format!("/v1/contracts/{contract}/agreements");
    let mut twice = agreement_body("P1");
    twice["one_to_one_hours_per_week"] = json!(2.3);
    let r = app.put(
        &path,
        &c,
        &json!({"agreements": [agreement_body("P1"), twice]}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/agreements/1/one_to_one_hours_per_week"]);
    let r = app.put(
        &path,
        &c,
        &json!({"agreements": [agreement_body("P1"), agreement_body("P1")]}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/agreements/1/person_ref"]);
    let mut name = agreement_body("Jane Smith");
    name["planned_sessions"] = json!([{"weekday": "monday", "session_type": "evening"}]);
    let r = app.put(&path, &c, &json!({"agreements": [name]}));
    r.expect(422);
    assert_eq!(
        r.pointers(),
        [
            "/agreements/0/person_ref",
            "/agreements/0/planned_sessions/0/session_type"
        ]
    );
    app.put(
        "/v1/contracts/none/agreements",
        &c,
        &json!({"agreements": [agreement_body("P1")]}),
    )
    .expect(404);
    // Hours are exact: 2.75 reads back as 2.75.
    let mut exact = agreement_body("P2");
    exact["one_to_one_hours_per_week"] = json!(2.75);
    let r = app.put(&path, &c, &json!({"agreements": [exact]}));
    r.expect(200);
    let id = r.body["agreements"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/agreements/{id}"), &c).body["one_to_one_hours_per_week"],
        json!(2.75)
    );
}

#[test]
fn cohorts_travel_with_the_agreement() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Cohorts");
    let contract = app.create_contract(&provider, "NCC-COH-1");
    let path = format!("/v1/contracts/{contract}/agreements");

    let plain = agreement_body("P1");
    let mut with_cohort = agreement_body("P2");
    with_cohort["primary_support_reason"] = json!("autism");
    with_cohort["funding"] = json!("direct_payment");
    let r = app.put(&path, &c, &json!({"agreements": [plain, with_cohort]}));
    r.expect(200);
    let read = |i: usize| {
        let id = r.body["agreements"][i]["id"].as_str().unwrap();
        app.get(&format!("/v1/agreements/{id}"), &c).body
    };
    // Not sent: funding is commissioned and the reason unknown.
    assert_eq!(read(0)["funding"], "commissioned");
    assert_eq!(read(0)["primary_support_reason"], Value::Null);
    assert_eq!(read(1)["funding"], "direct_payment");
    assert_eq!(read(1)["primary_support_reason"], "autism");

    // Sending the default explicitly is no change; changing the funding is one.
    let mut explicit = agreement_body("P1");
    explicit["funding"] = json!("commissioned");
    let mut changed = agreement_body("P2");
    changed["primary_support_reason"] = json!("autism");
    changed["funding"] = json!("individual_service_fund");
    let r = app.put(&path, &c, &json!({"agreements": [explicit, changed]}));
    r.expect(200);
    assert_eq!(
        (r.body["unchanged"].clone(), r.body["updated"].clone()),
        (json!(1), json!(1))
    );

    // A reason outside the vocabulary is refused at its place, and nothing is stored.
    let mut bad = agreement_body("P3");
    bad["primary_support_reason"] = json!("frailty");
    let r = app.put(
        &path,
        &c,
        &json!({"agreements": [agreement_body("P4"), bad]}),
    );
    assert!(matches!(r.status, 400 | 422), "{}", r.status);
    assert_eq!(r.pointers(), ["/agreements/1/primary_support_reason"]);
    assert_eq!(count(&app, &contract), 2);
}
