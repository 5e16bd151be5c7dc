//! Queries across submissions: filters, stable pages under concurrent inserts, CSV
//! exports with the same rows as JSON, and the compliance report.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

use crate::support::{last_week, Fixture, Resp, TestApp};

fn ids(resp: &Resp) -> Vec<String> {
    resp.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn csv_rows(resp: &Resp) -> Vec<csv::StringRecord> {
    assert!(
        resp.content_type.starts_with("text/csv"),
        "{}",
        resp.content_type
    );
    csv::Reader::from_reader(resp.bytes.as_slice())
        .records()
        .map(Result::unwrap)
        .collect()
}

/// A list as CSV, asked both ways: with `Accept: text/csv`, and as its own
/// `…/export.csv` operation. The two answers must be the same.
fn get_csv(app: &TestApp, path: &str, token: &str) -> Resp {
    let r = app.request_with("GET", path, Some(token), None, &[("Accept", "text/csv")]);
    r.expect(200);
    let export = match path.split_once('?') {
        Some((list, query)) => format!("{list}/export.csv?{query}"),
        None => format!("{path}/export.csv"),
    };
    let e = app.request("GET", &export, Some(token), None);
    e.expect(200);
    assert_eq!(
        e.text, r.text,
        "{export} differs from {path} with Accept: text/csv"
    );
    assert_eq!(e.content_type, r.content_type);
    r
}

#[test]
fn only_lists_have_csv_operations() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "X1");
    let c = app.commissioner();
    // Not a list: the contract itself has no CSV form.
    let r = app.get(&format!("/v1/contracts/{}/export.csv", fx.contract), &c);
    r.expect(404);
    // The CSV operation is a read.
    let r = app.post("/v1/contracts/export.csv", &c, &json!({}));
    r.expect(405);
    assert_eq!(r.header("Allow"), Some("GET"));
    // It checks what the list checks.
    app.request("GET", "/v1/contracts/export.csv", None, None)
        .expect(401);
    app.get("/v1/contracts/export.csv?limit=0", &c).expect(422);
}

#[test]
fn submissions_of_every_kind_filtered() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "Q1");
    let other = Fixture::new(&app, "Q2");
    let week = last_week();
    let clean = fx.post(&app, &fx.register(week));
    clean.expect(201);
    // A week missing P2's planned session: rejected with REG-001.
    let earlier = week - Days::new(7);
    let mut missing = fx.register(earlier);
    missing["lines"].as_array_mut().unwrap().pop();
    let rejected = fx.post(&app, &missing);
    assert_eq!(rejected.body["status"], "rejected");
    let rejected_id = rejected.body["id"].as_str().unwrap().to_string();
    other.post(&app, &other.register(week)).expect(201);
    let draft = app.request(
        "POST",
        &format!(
            "/v1/claims/draft?contract_id={}&period_start={week}",
            fx.contract
        ),
        Some(&fx.token),
        None,
    );
    draft.expect(200);
    let priced = app.post("/v1/claims/validate", &fx.token, &draft.body);
    priced.expect(200);
    assert!(priced.body["accepted_total_pence"].as_i64().unwrap() > 0);
    let claim = app.request_with(
        "POST",
        "/v1/claims",
        Some(&fx.token),
        Some(("application/json", draft.body.to_string().into_bytes())),
        &[("Idempotency-Key", "q-claim-1")],
    );
    claim.expect(201);
    let claim_id = claim.body["id"].as_str().unwrap().to_string();
    let auditor = app.auditor();
    let list = |query: &str| {
        let r = app.get(&format!("/v1/submissions?{query}"), &auditor);
        r.expect(200);
        ids(&r)
    };
    let contract = &fx.contract;
    assert_eq!(list(&format!("contract_id={contract}")).len(), 3);
    assert_eq!(
        list(&format!("contract_id={contract}&kind=claim")),
        [claim_id.as_str()]
    );
    assert_eq!(
        list(&format!("contract_id={contract}&status=rejected")),
        [rejected_id.as_str()]
    );
    assert_eq!(list("finding_code=REG-001"), [rejected_id.as_str()]);
    assert_eq!(
        list(&format!(
            "contract_id={contract}&kind=register&period_from={week}"
        )),
        [clean.body["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(list(&format!("provider_id={}", other.provider)).len(), 1);
    assert!(list("submitted_from=2099-01-01T00:00:00Z").is_empty());
    assert_eq!(
        list("submitted_from=2000-01-01T00:00:00Z&submitted_to=2099-01-01T00:00:00Z").len(),
        4
    );

    // The finding filter reads the current version: amended clean, REG-001 is gone.
    let amended = app.request_with(
        "PUT",
        &format!("/v1/registers/{rejected_id}"),
        Some(&fx.token),
        Some((
            "application/json",
            fx.register(earlier).to_string().into_bytes(),
        )),
        &[("If-Match", "\"v1\"")],
    );
    amended.expect(200);
    assert!(list("finding_code=REG-001").is_empty());

    // A provider sees its own; asking for another's is an empty list, not an error.
    let own = app.get("/v1/submissions", &fx.token);
    assert_eq!(ids(&own).len(), 3);
    let theirs = app.get(
        &format!("/v1/submissions?provider_id={}", other.provider),
        &fx.token,
    );
    assert!(ids(&theirs).is_empty());
    // A kind's own list holds that kind only.
    let r = app.get("/v1/registers?kind=claim", &auditor);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/kind"]);
    let r = app.get("/v1/submissions?kind=invoice", &auditor);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/kind"]);

    // CSV: the same rows as the JSON.
    let json_items = app.get("/v1/submissions", &auditor).body["items"].clone();
    let rows = csv_rows(&get_csv(&app, "/v1/submissions", &auditor));
    assert_eq!(rows.len(), json_items.as_array().unwrap().len());
    for (row, item) in rows.iter().zip(json_items.as_array().unwrap()) {
        for (i, field) in [
            "id",
            "kind",
            "contract_id",
            "provider_id",
            "period_start",
            "period_end",
            "current_version",
            "status",
        ]
        .iter()
        .enumerate()
        {
            let expected = match &item[*field] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(&row[i], expected, "{field}");
        }
    }
    let registers = csv_rows(&get_csv(&app, "/v1/registers", &auditor));
    assert_eq!(registers.len(), 3);
    let claims = csv_rows(&get_csv(&app, "/v1/claims", &auditor));
    assert_eq!(claims.len(), 1);
    assert!(csv_rows(&get_csv(&app, "/v1/workbooks", &auditor)).is_empty());
}

#[test]
fn paging_under_concurrent_inserts_returns_each_earlier_submission_once() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "QP");
    // 10,000 earlier submissions, written straight to the database.
    let mut sql = app.sql();
    let mut earlier = BTreeSet::new();
    let start = NaiveDate::from_ymd_opt(2000, 1, 3).unwrap();
    for chunk in 0..20 {
        let values: Vec<String> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                let id = uuid::Uuid::now_v7().to_string();
                earlier.insert(id.clone());
                let monday = start + Days::new(7 * n);
                format!(
                    "('{id}', 'register', '{}', '{}', 'bulk-{n}', '{monday}', '{}', 1, 'accepted', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                    fx.contract,
                    fx.provider,
                    monday + Days::new(6)
                )
            })
            .collect();
        sql.batch_execute(&format!(
            "INSERT INTO submissions (id, kind, contract_id, provider_id, period_key, period_start, period_end, current_version, status, created_at, updated_at) VALUES {}",
            values.join(", ")
        ))
        .unwrap();
    }
    let auditor = app.auditor();
    let mut seen = Vec::new();
    std::thread::scope(|scope| {
        let inserter = scope.spawn(|| {
            // Another client submits registers for 30 weeks while the auditor pages.
            let mut monday = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
            for _ in 0..30 {
                fx.post(&app, &fx.register(monday)).expect(201);
                monday = monday + Days::new(7);
            }
        });
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/submissions?limit=500&cursor={c}"),
                None => "/v1/submissions?limit=500".to_string(),
            };
            let page = app.get(&path, &auditor);
            page.expect(200);
            assert!(page.body["items"].as_array().unwrap().len() <= 500);
            seen.extend(ids(&page));
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        inserter.join().unwrap();
    });
    let mut counted = std::collections::BTreeMap::<&str, usize>::new();
    for id in &seen {
        *counted.entry(id.as_str()).or_default() += 1;
    }
    assert!(counted.values().all(|n| *n == 1), "no submission twice");
    assert!(
        earlier.iter().all(|id| counted.contains_key(id.as_str())),
        "every earlier submission"
    );

    // The CSV export streams every match across pages.
    let rows = csv_rows(&get_csv(&app, "/v1/submissions", &auditor));
    assert_eq!(rows.len(), 10_030);
}

#[test]
fn compliance_per_provider() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "QC");
    let other = Fixture::new(&app, "QD");
    let week = last_week();
    fx.post(&app, &fx.register(week)).expect(201);
    let mut missing = fx.register(week - Days::new(7));
    missing["lines"].as_array_mut().unwrap().pop();
    assert_eq!(fx.post(&app, &missing).body["status"], "rejected");
    // Long after its deadline: SUB-002.
    let late = fx.post(
        &app,
        &fx.register(NaiveDate::from_ymd_opt(2025, 6, 2).unwrap()),
    );
    assert!(late.text.contains("SUB-002"));
    other.post(&app, &other.register(week)).expect(201);

    let report = app.get("/v1/reports/compliance", &app.auditor());
    report.expect(200);
    let row = report.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["provider_id"] == fx.provider.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["submissions"], json!(3));
    assert_eq!(row["passed_first_time"], json!(2));
    assert_eq!(row["first_time_pass_rate_pct"], json!(66.67));
    // The week before last is past its 7-day deadline too.
    assert_eq!(row["late_submissions"], json!(2));
    let codes: Vec<&str> = row["most_frequent_findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"REG-001") && codes.contains(&"SUB-002"),
        "{codes:?}"
    );

    // A provider sees its own row; CSV has the JSON's rows.
    let own = app.get("/v1/reports/compliance", &fx.token);
    assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
    let all = report.body["items"].as_array().unwrap();
    let rows = csv_rows(&get_csv(&app, "/v1/reports/compliance", &app.auditor()));
    assert_eq!(rows.len(), all.len());
    for (r, item) in rows.iter().zip(all) {
        assert_eq!(&r[0], item["provider_id"].as_str().unwrap());
        assert_eq!(
            r[2].parse::<i64>().unwrap(),
            item["submissions"].as_i64().unwrap()
        );
    }
    // Only the period asked about.
    let recent = app.get(
        &format!("/v1/reports/compliance?period_from={}", week - Days::new(7)),
        &fx.token,
    );
    assert_eq!(recent.body["items"][0]["submissions"], json!(2));
}

#[test]
fn reference_lists_export_as_csv_with_the_json_rows() {
    let app = TestApp::spawn();
    let fx = Fixture::new(&app, "QR");
    Fixture::new(&app, "QS");
    let c = app.commissioner();
    for (path, token) in [
        ("/v1/providers".to_string(), c.clone()),
        ("/v1/contracts".to_string(), c.clone()),
        (
            format!("/v1/contracts/{}/agreements", fx.contract),
            c.clone(),
        ),
        (
            format!("/v1/contracts/{}/rate-matrices", fx.contract),
            c.clone(),
        ),
        ("/v1/contracts".to_string(), fx.token.clone()),
    ] {
        let json = app.get(&format!("{path}?limit=500"), &token);
        json.expect(200);
        let items = json.body["items"].as_array().unwrap();
        let response = get_csv(&app, &path, &token);
        let mut reader = csv::Reader::from_reader(response.bytes.as_slice());
        let headers = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), items.len(), "{path}");
        for (row, item) in rows.iter().zip(items) {
            for key in item.as_object().unwrap().keys() {
                assert!(headers.iter().any(|h| h == key), "{path}: no column {key}");
            }
            for (header, cell) in headers.iter().zip(row.iter()) {
                let expected = &item[header];
                match expected {
                    Value::String(s) => assert_eq!(cell, s, "{path} {header}"),
                    Value::Null => assert_eq!(cell, "", "{path} {header}"),
                    // Numbers, booleans and nested terms read back as the same JSON.
                    other => assert_eq!(
                        &serde_json::from_str::<Value>(cell).unwrap(),
                        other,
                        "{path} {header}"
                    ),
                }
            }
        }
    }
}

/// A CSV export never hands a spreadsheet a formula: a provider named like one is written
/// as text (OWASP's CSV injection advice); negative numbers stay numbers.
#[test]
fn csv_cells_never_start_a_formula() {
    let app = TestApp::spawn();
    let name = "=HYPERLINK(\"http://evil.example\",\"x\")";
    app.create_provider(name);
    let export = get_csv(&app, "/v1/providers", &app.commissioner());
    let mut reader = csv::Reader::from_reader(export.bytes.as_slice());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "name")
        .unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[column], format!("'{name}"));
}
