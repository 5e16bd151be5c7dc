//! Tokens from a council's identity provider: keys from its published key set (JWKS),
//! rotated without a restart, app roles mapped to ours, and provider tokens that must
//! name a provider the council registered.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{TestApp, AUDIENCE, ISSUER};
use dayops_server::config::JwtKey;
use dayops_server::jwks::KeySource;

const RSA_PRIVATE: &str = include_str!("../fixtures/rs256-private.pem");
const EC_PRIVATE: &str = include_str!("../fixtures/es256-private.pem");

/// An identity provider's key set endpoint: serves whatever `keys` holds now, counting
/// the requests it answers.
struct KeyServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    served: Arc<AtomicUsize>,
}

impl KeyServer {
    fn start(keys: Value) -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(keys));
        let served = Arc::new(AtomicUsize::new(0));
        let (shared, count) = (keys.clone(), served.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = shared.lock().unwrap().to_string();
                count.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        KeyServer { url, keys, served }
    }
}

fn jwk(key: &EncodingKey, algorithm: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, algorithm).unwrap();
    jwk.common.key_id = Some(kid.into());
    serde_json::to_value(jwk).unwrap()
}

fn sign(key: &EncodingKey, algorithm: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    encode(&header, claims, key).unwrap()
}

fn claims(extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims =
        json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now});
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

#[test]
fn keys_come_from_the_identity_provider_and_rotate_without_a_restart() {
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let ec = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
    let idp = KeyServer::start(json!({"keys": [jwk(&rsa, Algorithm::RS256, "k1")]}));
    let url = idp.url.clone();
    let app = TestApp::spawn_with(move |config| {
        config.jwt_key = Some(JwtKey::Remote(KeySource::Jwks(url)));
        config.jwt_keys_min_refresh_secs = 1;
        // Entra ID's app roles: an array of the council's names for them.
        config.jwt_role_claim = "roles".into();
        config.jwt_role_values =
            "DayOps.Provider=provider,DayOps.Commissioner=commissioner,DayOps.Auditor=auditor"
                .into();
        config.jwt_provider_claim = "extension_provider".into();
    });
    assert_eq!(
        idp.served.load(Ordering::SeqCst),
        1,
        "fetched once at start"
    );
    // The document's openIdConnect scheme leads here: the issuer and key set trusted.
    let trusted = app.request("GET", "/.well-known/openid-configuration", None, None);
    trusted.expect(200);
    assert_eq!(trusted.body, json!({"issuer": ISSUER, "jwks_uri": idp.url}));
    let commissioner = claims(json!({"roles": ["Staff.Reader", "DayOps.Commissioner"]}));
    let k1 = sign(&rsa, Algorithm::RS256, Some("k1"), &commissioner);
    app.get("/v1/providers", &k1).expect(200);
    // The provider the council registers, and a token for it.
    let created = app.post("/v1/providers", &k1, &json!({"name": "Keyed Ltd"}));
    created.expect(201);
    let provider = created.body["id"].as_str().unwrap().to_string();
    let provider_token = sign(
        &rsa,
        Algorithm::RS256,
        Some("k1"),
        &claims(json!({"roles": ["DayOps.Provider"], "extension_provider": provider})),
    );
    let own = app.get("/v1/providers", &provider_token);
    own.expect(200);
    assert_eq!(own.body["items"][0]["id"], json!(provider));

    // Roles that name none of ours, or two of them, are refused.
    for roles in [
        json!(["Staff.Reader"]),
        json!(["DayOps.Auditor", "DayOps.Commissioner"]),
    ] {
        let token = sign(
            &rsa,
            Algorithm::RS256,
            Some("k1"),
            &claims(json!({"roles": roles})),
        );
        app.get("/v1/providers", &token).expect(401);
    }
    // No kid, or a kid the provider never published (fetched again, at most once a
    // second here), is 401.
    let (no_kid, unknown_kid) = (
        sign(&rsa, Algorithm::RS256, None, &commissioner),
        sign(&rsa, Algorithm::RS256, Some("k9"), &commissioner),
    );
    let fetched = idp.served.load(Ordering::SeqCst);
    let burst = std::time::Instant::now();
    app.get("/v1/providers", &no_kid).expect(401);
    for _ in 0..5 {
        let r = app.get("/v1/providers", &unknown_kid);
        r.expect(401);
        assert!(
            r.body["detail"].as_str().unwrap().contains("kid"),
            "{}",
            r.text
        );
    }
    // Once for the burst, and once more for each second it took on a busy machine.
    assert!(
        idp.served.load(Ordering::SeqCst) - fetched <= 1 + burst.elapsed().as_secs() as usize,
        "a burst of unknown kids fetches the key set at most once a second"
    );
    // A key published as RSA cannot sign HS256 with its public parts (key confusion).
    let confused = sign(
        &EncodingKey::from_secret(b"k1"),
        Algorithm::HS256,
        Some("k1"),
        &commissioner,
    );
    app.get("/v1/providers", &confused).expect(401);

    // The provider rotates: k2 (EC) replaces k1.
    *idp.keys.lock().unwrap() = json!({"keys": [jwk(&ec, Algorithm::ES256, "k2")]});
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let k2 = sign(&ec, Algorithm::ES256, Some("k2"), &commissioner);
    app.get("/v1/providers", &k2).expect(200);
    // k1 is gone from the set fetched: its tokens no longer verify.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    app.get("/v1/providers", &k1).expect(401);
    app.get("/v1/providers", &k2).expect(200);
}

#[test]
fn a_provider_token_must_name_a_registered_provider() {
    let app = TestApp::spawn();
    // Tokens are verified with a configured secret here: no identity provider to name.
    app.request("GET", "/.well-known/openid-configuration", None, None)
        .expect(404);
    let unknown = app.provider("no-such-provider");
    let r = app.get("/v1/contracts", &unknown);
    r.expect(401);
    assert!(
        r.body["detail"].as_str().unwrap().contains("provider"),
        "{}",
        r.text
    );
    // Once registered, the same token works.
    let created = app.post(
        "/v1/providers",
        &app.commissioner(),
        &json!({"name": "Late Ltd"}),
    );
    let id = created.body["id"].as_str().unwrap();
    let token = app.provider(id);
    app.get("/v1/contracts", &token).expect(200);
}

/// The discovery document names the key set: `DAYOPS_JWT_DISCOVERY` finds it from the
/// issuer.
#[test]
fn keys_are_found_through_the_issuers_discovery_document() {
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let jwks = KeyServer::start(json!({"keys": [jwk(&rsa, Algorithm::RS256, "d1")]}));
    let discovery = KeyServer::start(json!({"issuer": "x", "jwks_uri": jwks.url}));
    // The issuer is the discovery server's base; its document is at /.well-known/….
    let issuer = discovery.url.trim_end_matches("/keys").to_string();
    let iss = issuer.clone();
    let app = TestApp::spawn_with(move |config| {
        config.jwt_key = Some(JwtKey::Remote(KeySource::Discovery {
            issuer: iss.clone(),
        }));
        config.jwt_issuer = iss;
    });
    let mut c = claims(json!({"role": "auditor"}));
    c["iss"] = json!(issuer);
    app.get(
        "/v1/audit-events",
        &sign(&rsa, Algorithm::RS256, Some("d1"), &c),
    )
    .expect(200);
    assert_eq!(discovery.served.load(Ordering::SeqCst), 1);
    assert_eq!(jwks.served.load(Ordering::SeqCst), 1);
}
