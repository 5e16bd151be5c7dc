//! Providers and contracts: create, read, list with cursor pages, merge-patch updates.

use serde_json::json;

use crate::support::{contract_body, last_week, Fixture, TestApp};

#[test]
fn provider_lifecycle() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let created = app.post(
        "/v1/providers",
        &c,
        &json!({"name": "Riverside Day Centre", "cqc_location_id": "1-101"}),
    );
    created.expect(201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/providers/{id}").as_str())
    );
    assert_eq!(created.body["status"], "active");

    let patched = app.patch(
        &format!("/v1/providers/{id}"),
        &c,
        &json!({"status": "suspended", "cqc_location_id": null}),
    );
    patched.expect(200);
    assert_eq!(patched.body["status"], "suspended");
    assert_eq!(patched.body["name"], "Riverside Day Centre");
    assert!(
        patched.body.get("cqc_location_id").is_none() || patched.body["cqc_location_id"].is_null()
    );
    let read = app.get(&format!("/v1/providers/{id}"), &c);
    assert_eq!(read.body, patched.body);

    let bad = app.patch(
        &format!("/v1/providers/{id}"),
        &c,
        &json!({"status": "closed", "colour": "red"}),
    );
    bad.expect(422);
    let bad = app.post(
        "/v1/providers",
        &c,
        &json!({"name": " ", "cqc_location_id": "ABC"}),
    );
    bad.expect(422);
    assert_eq!(bad.pointers(), ["/name", "/cqc_location_id"]);
    app.patch("/v1/providers/nope", &c, &json!({"name": "X"}))
        .expect(404);
}

#[test]
fn contract_validation_points_at_fields() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Northfield CIC");
    let mut body = contract_body(&provider, "NCC-DO-2025-001");
    body["payment_period"] = json!("four_weekly");
    body["need_bands"] = json!(["low", "low"]);
    body["capacity_per_session"] = json!(0);
    let r = app.post("/v1/contracts", &c, &body);
    r.expect(422);
    assert_eq!(
        r.pointers(),
        [
            "/need_bands/1",
            "/capacity_per_session",
            "/payment_anchor_date"
        ]
    );

    // Shape errors: unknown field, bad enum, wrong type, missing field.
    for (mutate, pointer) in [
        (json!({"surprise": 1}), "/surprise"),
        (json!({"service_type": "bowling"}), "/service_type"),
        (
            json!({"capacity_per_session": "twenty"}),
            "/capacity_per_session",
        ),
        (
            json!({"absence_policy": {"chargeable_reasons": ["boredom"], "min_notice_hours": 1}}),
            "/absence_policy/chargeable_reasons/0",
        ),
    ] {
        let mut body = contract_body(&provider, "NCC-DO-2025-002");
        for (k, v) in mutate.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/v1/contracts", &c, &body);
        r.expect(422);
        assert_eq!(r.pointers(), [pointer], "{mutate}");
    }
    let mut missing = contract_body(&provider, "NCC-DO-2025-003");
    missing.as_object_mut().unwrap().remove("start_date");
    let r = app.post("/v1/contracts", &c, &missing);
    r.expect(422);
    assert_eq!(r.pointers(), ["/start_date"]);

    // An unknown provider is named.
    let r = app.post(
        "/v1/contracts",
        &c,
        &contract_body("no-such-provider", "NCC-DO-2025-004"),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/provider_id"]);
    assert_eq!(
        app.get("/v1/contracts", &c).body["items"],
        json!([]),
        "nothing stored"
    );
}

#[test]
fn contract_reference_is_unique_and_patch_keeps_the_rest() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Hollybank");
    let first = app.create_contract(&provider, "NCC-DO-2025-010");
    let second = app.create_contract(&provider, "NCC-DO-2025-011");
    let dup = app.post(
        "/v1/contracts",
        &c,
        &contract_body(&provider, "NCC-DO-2025-010"),
    );
    dup.expect(409);
    assert_eq!(dup.pointers(), ["/reference"]);
    let clash = app.patch(
        &format!("/v1/contracts/{second}"),
        &c,
        &json!({"reference": "NCC-DO-2025-010"}),
    );
    clash.expect(409);

    let patched = app.patch(
        &format!("/v1/contracts/{first}"),
        &c,
        &json!({"end_date": "2027-03-31", "closure_dates": ["2025-12-29"], "status": "suspended"}),
    );
    patched.expect(200);
    assert_eq!(patched.body["end_date"], "2027-03-31");
    assert_eq!(patched.body["status"], "suspended");
    assert_eq!(
        patched.body["need_bands"],
        json!(["low", "medium", "high", "complex"])
    );
    assert_eq!(
        patched.body["session_hours"],
        json!({"am": 3.0, "full_day": 6.0, "pm": 3.0})
    );
    let moved = app.patch(
        &format!("/v1/contracts/{first}"),
        &c,
        &json!({"provider_id": "someone-else"}),
    );
    moved.expect(422);
    assert_eq!(moved.pointers(), ["/provider_id"]);
    let bad = app.patch(
        &format!("/v1/contracts/{first}"),
        &c,
        &json!({"end_date": "2020-01-01"}),
    );
    bad.expect(422);
    assert_eq!(bad.pointers(), ["/end_date"]);
    let not_object = app.patch(&format!("/v1/contracts/{first}"), &c, &json!([1]));
    not_object.expect(422);
}

#[test]
fn lists_page_with_cursors() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.create_provider(&format!("Provider {i}")));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/providers?limit=3&cursor={cursor}"),
            None => "/v1/providers?limit=3".to_string(),
        };
        let page = app.get(&path, &c);
        page.expect(200);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, created, "every provider once, in creation order");
    let r = app.get("/v1/providers?limit=501", &c);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/limit"]);
    let r = app.get("/v1/providers?limit=ten", &c);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/limit"]);
    let r = app.get("/v1/providers?colour=red", &c);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/colour"]);
}

/// Two commissioners change the same version of a provider or contract at once: one
/// change lands, the other is 412 and lands only once it is made to what is there now.
#[test]
fn concurrent_patches_do_not_lose_updates() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Riverside");
    let contract = app.create_contract(&provider, "NCC-LU-1");
    let provider_path = format!("/v1/providers/{provider}");
    let contract_path = format!("/v1/contracts/{contract}");
    for (path, changes) in [
        (
            &provider_path,
            [
                json!({"name": "Riverside Two"}),
                json!({"status": "suspended"}),
            ],
        ),
        (
            &contract_path,
            [
                json!({"capacity_per_session": 7}),
                json!({"register_deadline_days": 3}),
            ],
        ),
    ] {
        let read = app.get(path, &c);
        let etag = read.header("etag").expect("an ETag").to_string();
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = changes
                .iter()
                .map(|change| {
                    let (etag, c, app) = (etag.clone(), &c, &app);
                    scope.spawn(move || app.patch_with(path, c, change, Some(&etag)).status)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [200, 412],
            "{path}: one lands, one is told it is stale"
        );
        // The loser reads again and sends its change once more.
        let loser = &changes[statuses.iter().position(|s| *s == 412).unwrap()];
        app.patch(path, &c, loser).expect(200);
    }
    let p = app.get(&provider_path, &c);
    assert_eq!(
        (p.body["name"].clone(), p.body["status"].clone()),
        (json!("Riverside Two"), json!("suspended"))
    );
    let k = app.get(&contract_path, &c);
    assert_eq!(
        (
            k.body["capacity_per_session"].clone(),
            k.body["register_deadline_days"].clone()
        ),
        (json!(7), json!(3))
    );
}

/// Providers and contracts change only with `If-Match` naming what is there now (428
/// without, 412 with anything else); every read carries the ETag, which the answer to a
/// change gives anew, and `If-None-Match` with a current one is 304.
#[test]
fn patches_need_the_current_etag_and_reads_answer_304() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let fixture = Fixture::new(&app, "etag");
    let agreement = app
        .get(
            &format!("/v1/contracts/{}/agreements", fixture.contract),
            &c,
        )
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (path, change) in [
        (
            format!("/v1/providers/{}", fixture.provider),
            json!({"name": "Renamed"}),
        ),
        (
            format!("/v1/contracts/{}", fixture.contract),
            json!({"capacity_per_session": 9}),
        ),
    ] {
        let read = app.get(&path, &c);
        let etag = read.header("etag").unwrap().to_string();
        let r = app.patch_with(&path, &c, &change, None);
        r.expect(428);
        assert_eq!(r.body["type"], "/problems/precondition-required");
        for stale in [
            "\"bogus\"",
            &format!("W/{etag}"),
            "\"00000000000000000000000000000000\"",
        ] {
            let r = app.patch_with(&path, &c, &change, Some(stale));
            r.expect(412);
            assert_eq!(r.body["type"], "/problems/precondition-failed");
            assert!(
                r.body["detail"].as_str().unwrap().contains(&etag),
                "{}",
                r.text
            );
        }
        // Nothing changed on the way.
        assert_eq!(app.get(&path, &c).body, read.body, "{path}");
        let conditional =
            |etag: &str| app.request_with("GET", &path, Some(&c), None, &[("If-None-Match", etag)]);
        let unchanged = conditional(&etag);
        unchanged.expect(304);
        assert_eq!(unchanged.header("etag"), Some(etag.as_str()));
        assert!(unchanged.bytes.is_empty());
        conditional(&format!("\"x\", W/{etag}")).expect(304);
        let changed = app.patch_with(&path, &c, &change, Some(&etag));
        changed.expect(200);
        let new_etag = changed.header("etag").unwrap().to_string();
        assert_ne!(new_etag, etag);
        // The old ETag is stale now, for reads and changes alike.
        let reread = conditional(&etag);
        reread.expect(200);
        assert_eq!(reread.header("etag"), Some(new_etag.as_str()));
        assert_eq!(reread.body, changed.body);
        app.patch_with(&path, &c, &change, Some(&etag)).expect(412);
        // The provider sees the same ETag for its own.
        let own = app.get(&path, &fixture.token);
        assert_eq!(own.header("etag"), Some(new_etag.as_str()));
    }
    // Agreements and submissions carry ETags too, and answer 304.
    let path = format!("/v1/agreements/{agreement}");
    let read = app.get(&path, &c);
    let etag = read.header("etag").unwrap();
    app.request_with("GET", &path, Some(&c), None, &[("If-None-Match", etag)])
        .expect(304);
    let register = fixture.post(&app, &fixture.register(last_week()));
    register.expect(201);
    let path = format!("/v1/registers/{}", register.body["id"].as_str().unwrap());
    let conditional = |method: &str, etag: &str| {
        app.request_with(
            method,
            &path,
            Some(&fixture.token),
            None,
            &[("If-None-Match", etag)],
        )
        .status
    };
    assert_eq!(conditional("GET", "\"v1\""), 304);
    assert_eq!(conditional("HEAD", "\"v1\""), 304);
    assert_eq!(conditional("GET", "\"v2\""), 200);
}

/// KPI targets name exactly the KPIs a workbook computes, long measure names included;
/// anything else is 422 listing the known codes, which `GET /v1/kpis` lists with what each
/// measures.
#[test]
fn kpi_targets_name_the_kpis_a_workbook_computes() {
    let app = TestApp::spawn();
    let provider = app.create_provider("Outcomes Ltd");
    let contract = app.create_contract(&provider, "NCC-KPI-1");
    let c = app.commissioner();
    let catalogue = app.get("/v1/kpis", &app.provider(&provider));
    catalogue.expect(200);
    let items = catalogue.body["items"].as_array().unwrap();
    let codes: Vec<&str> = items.iter().map(|k| k["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"community_access_pct"));
    assert!(codes.contains(&"outcomes_progressing_pct"));
    assert!(codes.contains(&"people_in_employment_volunteering_education"));
    assert!(items
        .iter()
        .all(|k| !k["measures"].as_str().unwrap().is_empty()));
    let long = "people_accessing_health_activities_weekly";
    assert!(long.len() > 32);
    let r = app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"kpi_targets": [{"code": long, "target": 10, "amber_below": 5}]}),
    );
    r.expect(200);
    assert_eq!(r.body["kpi_targets"][0]["code"], long);
    let r = app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"kpi_targets": [{"code": "bowling_scores", "target": 10, "amber_below": 5}]}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/kpi_targets/0/code"]);
    let detail = r.body["errors"][0]["detail"].as_str().unwrap();
    for code in &codes {
        assert!(detail.contains(code), "{code} in {detail}");
    }
    let csv = app.request_with("GET", "/v1/kpis", Some(&c), None, &[("Accept", "text/csv")]);
    csv.expect(200);
    assert_eq!(csv.text.lines().count(), codes.len() + 1);
    app.request("GET", "/v1/kpis", None, None).expect(401);
}

/// The finding-code catalogue is the SPEC's: every code with its severity policy and the
/// kinds it applies to, for any role; a list filtered by a code that is not in it is 422.
#[test]
fn the_finding_code_catalogue_is_served() {
    let app = TestApp::spawn();
    let provider = app.create_provider("Codes Ltd");
    let r = app.get("/v1/finding-codes", &app.provider(&provider));
    r.expect(200);
    let items = r.body["items"].as_array().unwrap();
    let code = |c: &str| items.iter().find(|i| i["code"] == c).unwrap().clone();
    assert_eq!(items.len(), dayops_domain::rules::Rule::ALL.len());
    assert_eq!(code("REG-001")["severity"], "E");
    assert_eq!(code("AGR-006")["severity"], "W/E");
    assert_eq!(code("RATE-002")["applies_to"], json!(["claim"]));
    assert_eq!(
        code("SUB-001")["applies_to"],
        json!(["register", "claim", "workbook"])
    );
    // Every rule of the catalogue is checked since the outcome rules landed.
    assert!(items.iter().all(|i| i["checked"] == true));
    let c = app.commissioner();
    app.get("/v1/submissions?finding_code=REG-001", &c)
        .expect(200);
    let r = app.get("/v1/registers?finding_code=REG-999", &c);
    r.expect(422);
    assert_eq!(r.pointers(), ["/query/finding_code"]);
    app.request("GET", "/v1/finding-codes", None, None)
        .expect(401);
}

/// What JSON Schema and generated clients send is taken: a whole-number float is an
/// integer. A merge-patch `null` on a member the resource cannot be without is refused
/// with a pointer, not silently ignored.
#[test]
fn whole_floats_are_integers_and_null_cannot_remove_a_required_member() {
    let app = TestApp::spawn();
    let c = app.commissioner();
    let provider = app.create_provider("Floats Ltd");
    let mut body = contract_body(&provider, "NCC-FLOAT-1");
    body["capacity_per_session"] = json!(20.0);
    body["annual_budget_pence"] = json!(100000000.0);
    let created = app.post("/v1/contracts", &c, &body);
    created.expect(201);
    assert_eq!(created.body["capacity_per_session"], json!(20));
    let contract = created.body["id"].as_str().unwrap().to_string();
    let matrix = app.post(
        &format!("/v1/contracts/{contract}/rate-matrices"),
        &c,
        &json!({"effective_from": "2026-04-01", "cells": [
            {"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 135.0}
        ]}),
    );
    matrix.expect(201);
    assert_eq!(matrix.body["cells"][0]["rate_pence"], json!(135));
    // A fraction is still refused where a whole number is wanted.
    let r = app.post(
        &format!("/v1/contracts/{contract}/rate-matrices"),
        &c,
        &json!({"effective_from": "2027-04-01", "cells": [
            {"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 135.5}
        ]}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/cells/0/rate_pence"]);

    for (patch, pointer) in [
        (json!({"status": null}), "/status"),
        (json!({"reference": null}), "/reference"),
        (
            json!({"absence_policy": {"min_notice_hours": null}}),
            "/absence_policy/min_notice_hours",
        ),
    ] {
        let r = app.patch(&format!("/v1/contracts/{contract}"), &c, &patch);
        r.expect(422);
        assert_eq!(r.pointers(), [pointer], "{patch}");
    }
    let r = app.patch(
        &format!("/v1/providers/{provider}"),
        &c,
        &json!({"status": null}),
    );
    r.expect(422);
    assert_eq!(r.pointers(), ["/status"]);
    // An optional member can be removed.
    let r = app.patch(
        &format!("/v1/contracts/{contract}"),
        &c,
        &json!({"end_date": null, "status": "suspended"}),
    );
    r.expect(200);
    assert_eq!(r.body["status"], "suspended");
}
