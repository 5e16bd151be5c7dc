//! SPEC §2: 401 for bad tokens, 403 for roles that may not act, 404 across providers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{agreement_body, TestApp, AUDIENCE, ISSUER, SECRET};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn good_claims() -> Value {
    json!({"sub": "u1", "role": "commissioner", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600})
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &[u8]) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn without(claim: &str) -> Value {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove(claim);
    c
}

#[test]
fn bad_tokens_are_401() {
    let app = TestApp::spawn();
    let es_key = include_str!("../fixtures/es256-private.pem");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good_claims().to_string())
    );
    let mut expired = good_claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = good_claims();
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = good_claims();
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut unknown_role = good_claims();
    unknown_role["role"] = json!("superuser");
    let mut provider_without_id = good_claims();
    provider_without_id["role"] = json!("provider");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("not-a-token".into())),
        ("unsigned", Some(unsigned)),
        (
            "expired",
            Some(sign(&expired, Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "other key",
            Some(sign(
                &good_claims(),
                Algorithm::HS256,
                b"another-secret-another-secret-0123",
            )),
        ),
        (
            "other algorithm",
            Some(sign(&good_claims(), Algorithm::HS384, SECRET.as_bytes())),
        ),
        (
            "asymmetric algorithm",
            Some(
                encode(
                    &Header::new(Algorithm::ES256),
                    &good_claims(),
                    &EncodingKey::from_ec_pem(es_key.as_bytes()).unwrap(),
                )
                .unwrap(),
            ),
        ),
        (
            "missing iss",
            Some(sign(&without("iss"), Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "missing aud",
            Some(sign(&without("aud"), Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "missing exp",
            Some(sign(&without("exp"), Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "missing sub",
            Some(sign(&without("sub"), Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "missing role",
            Some(sign(&without("role"), Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "wrong audience",
            Some(sign(&wrong_audience, Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "wrong issuer",
            Some(sign(&wrong_issuer, Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "unknown role",
            Some(sign(&unknown_role, Algorithm::HS256, SECRET.as_bytes())),
        ),
        (
            "provider without provider_id",
            Some(sign(
                &provider_without_id,
                Algorithm::HS256,
                SECRET.as_bytes(),
            )),
        ),
    ];
    for (case, token) in cases {
        let r = app.request("GET", "/v1/contracts", token.as_deref(), None);
        assert_eq!(r.status, 401, "{case}: {}", r.text);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{case}");
    }
    let good = sign(&good_claims(), Algorithm::HS256, SECRET.as_bytes());
    app.request("GET", "/v1/contracts", Some(&good), None)
        .expect(200);
    // Malformed Authorization headers.
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    "] {
        let r = app.request_with(
            "GET",
            "/v1/contracts",
            None,
            None,
            &[("Authorization", header)],
        );
        assert_eq!(r.status, 401, "{header}");
    }
}

#[test]
fn providers_cannot_see_each_other() {
    let app = TestApp::spawn();
    let mine = app.create_provider("Mine Ltd");
    let theirs = app.create_provider("Theirs Ltd");
    let my_contract = app.create_contract(&mine, "NCC-ISO-1");
    let their_contract = app.create_contract(&theirs, "NCC-ISO-2");
    let upsert = app.put(
        &format!("/v1/contracts/{their_contract}/agreements"),
        &app.commissioner(),
        &json!({"agreements": [agreement_body("P1")]}),
    );
    upsert.expect(200);
    let their_agreement = upsert.body["agreements"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.provider(&mine);

    // My own things are visible.
    app.get(&format!("/v1/contracts/{my_contract}"), &me)
        .expect(200);
    app.get(&format!("/v1/providers/{mine}"), &me).expect(200);

    // Theirs answer exactly like ids that do not exist.
    let missing = app.get("/v1/contracts/00000000-0000-0000-0000-000000000000", &me);
    missing.expect(404);
    for path in [
        format!("/v1/contracts/{their_contract}"),
        format!("/v1/contracts/{their_contract}/rate-matrices"),
        format!("/v1/contracts/{their_contract}/agreements"),
        format!("/v1/contracts/{their_contract}/rates?date=2025-06-02&item=meal&need_band=low"),
        format!("/v1/agreements/{their_agreement}"),
        format!("/v1/providers/{theirs}"),
    ] {
        let r = app.get(&path, &me);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(
            r.problem(),
            missing.problem(),
            "{path}: same body as a random id"
        );
    }

    // Lists hold only my own.
    let contracts = app.get("/v1/contracts", &me);
    let ids: Vec<_> = contracts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [my_contract.as_str()]);
    let asked_for_theirs = app.get(&format!("/v1/contracts?provider_id={theirs}"), &me);
    assert_eq!(asked_for_theirs.body["items"], json!([]));
    let providers = app.get("/v1/providers", &me);
    assert_eq!(providers.body["items"].as_array().unwrap().len(), 1);

    // Commissioners and auditors see everything.
    for token in [app.commissioner(), app.auditor()] {
        app.get(&format!("/v1/agreements/{their_agreement}"), &token)
            .expect(200);
        assert_eq!(
            app.get("/v1/contracts", &token).body["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}

#[test]
fn roles_that_may_not_act_get_403() {
    let app = TestApp::spawn();
    let provider = app.create_provider("Acme Day Services");
    let contract = app.create_contract(&provider, "NCC-ROLE-1");
    let as_provider = app.provider(&provider);
    let as_auditor = app.auditor();
    let matrix = json!({"effective_from": "2025-04-01", "cells": [{"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 450}]});
    let writes: Vec<(&str, String, Value)> = vec![
        ("POST", "/v1/providers".into(), json!({"name": "X"})),
        (
            "PATCH",
            format!("/v1/providers/{provider}"),
            json!({"name": "Y"}),
        ),
        (
            "POST",
            "/v1/contracts".into(),
            crate::support::contract_body(&provider, "NCC-ROLE-2"),
        ),
        (
            "PATCH",
            format!("/v1/contracts/{contract}"),
            json!({"capacity_per_session": 5}),
        ),
        (
            "POST",
            format!("/v1/contracts/{contract}/rate-matrices"),
            matrix,
        ),
        (
            "PUT",
            format!("/v1/contracts/{contract}/agreements"),
            json!({"agreements": [agreement_body("P9")]}),
        ),
    ];
    for token in [&as_provider, &as_auditor] {
        for (method, path, body) in &writes {
            let r = if *method == "PATCH" {
                app.patch(path, token, body)
            } else {
                app.send_json(method, path, token, body)
            };
            assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
            // Even a malformed body gets 403 first: the role is checked before the body.
            let r = app.request(
                method,
                path,
                Some(token),
                Some(("application/json", b"{not json".to_vec())),
            );
            assert_eq!(r.status, 403, "{method} {path} with a malformed body");
        }
    }
    // Providers may not read the audit trail.
    app.get("/v1/audit-events", &as_provider).expect(403);
    app.get("/v1/audit-events/verify", &as_provider).expect(403);
    // Nothing was changed by the refused writes.
    let contracts = app.get("/v1/contracts", &app.commissioner());
    assert_eq!(contracts.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        contracts.body["items"][0]["capacity_per_session"],
        json!(20)
    );
}
