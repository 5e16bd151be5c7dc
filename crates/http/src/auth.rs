//! Bearer-token authentication and the roles of SPEC §2.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::Value;

use dayops_domain::audit::Actor;
use dayops_domain::types::Role;

pub use crate::keys::FetchKeys;
use crate::keys::{Lookup, RemoteKeys};
use crate::problem::ApiError;
use crate::AppState;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// The key tokens are verified with.
pub enum VerificationKey {
    /// Shared secret, HS256 only.
    Secret(Vec<u8>),
    /// A PEM public key: RSA keys verify RS256 only, EC P-256 keys ES256 only.
    PublicKeyPem(Vec<u8>),
    /// The identity provider's key set (JWKS), fetched by this at most once in the
    /// duration when a token names a key it lacks; tokens name their key with `kid`.
    Remote(Box<dyn FetchKeys>, std::time::Duration),
}

/// Where a token's claims carry the role and the provider: by default `role` (one of
/// `provider`, `commissioner`, `auditor`) and `provider_id`. An identity provider's app
/// roles arrive as a `roles` array of its own names (Entra ID: `"DayOps.Commissioner"`),
/// mapped here to ours.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    pub role_claim: String,
    /// Each claim value that names a role, with the role it names.
    pub role_values: Vec<(String, Role)>,
    pub provider_claim: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            role_claim: "role".into(),
            role_values: Role::ALL
                .iter()
                .map(|role| (role.as_str().to_string(), *role))
                .collect(),
            provider_claim: "provider_id".into(),
        }
    }
}

impl ClaimMapping {
    /// The one role the claim names: a string, or an array whose values name one role
    /// (values naming none are someone else's roles, and ignored).
    fn role(&self, claim: Option<&Value>) -> Result<Role, ApiError> {
        let values: Vec<&str> = match claim {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut roles: Vec<Role> = values
            .iter()
            .filter_map(|v| self.role_values.iter().find(|(name, _)| name == v))
            .map(|(_, role)| *role)
            .collect();
        roles.sort_unstable_by_key(|r| r.as_str());
        roles.dedup();
        match roles.as_slice() {
            [one] => Ok(*one),
            [] => Err(ApiError::unauthorized(format!(
                "the token's {} claim names no role of this service (provider, commissioner or auditor)",
                self.role_claim
            ))),
            _ => Err(ApiError::unauthorized(format!(
                "the token's {} claim names more than one role of this service",
                self.role_claim
            ))),
        }
    }
}

enum Keys {
    Fixed(DecodingKey, Algorithm),
    Remote(RemoteKeys),
}

/// Verifies tokens: signature with the key's one pinned algorithm, and `sub`, the role,
/// `iss`, `aud`, `exp` all present, with `iss` and `aud` as configured.
pub struct Authenticator {
    keys: Keys,
    issuer: String,
    audience: String,
    mapping: ClaimMapping,
    verified: VerifiedTokens,
}

/// Tokens that verified against the fixed key, by their exact text, with what they proved
/// and when they expire: a client sends the same token with every request until it
/// expires, and checking its signature and claims again each time was a twentieth of
/// answering a quick request (an RS256 signature costs more again). Only a fixed key's:
/// an identity provider's key set may drop a key, and its tokens must then fail.
#[derive(Default)]
struct VerifiedTokens(parking_lot::Mutex<std::collections::HashMap<String, (Principal, u64)>>);

/// Tokens remembered at most; when full, the memory starts again.
const VERIFIED_TOKENS: usize = 4096;

impl VerifiedTokens {
    /// The principal of `token` if it verified before and has not expired since (with the
    /// leeway `decode` allows).
    fn recall(&self, token: &str, now: u64) -> Option<Principal> {
        let mut verified = self.0.lock();
        match verified.get(token) {
            Some((principal, exp)) if exp.saturating_add(LEEWAY_SECONDS) >= now => {
                Some(principal.clone())
            }
            Some(_) => {
                verified.remove(token);
                None
            }
            None => None,
        }
    }

    fn remember(&self, token: &str, principal: &Principal, exp: u64) {
        let mut verified = self.0.lock();
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(token.to_string(), (principal.clone(), exp));
    }
}

/// What checking a token against the keys at hand found.
pub enum Checked {
    Principal(Principal),
    /// The token names a key id the cached key set lacks.
    UnknownKey,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("the public key is neither an RSA nor an EC (P-256) PEM public key")]
    UnsupportedKey,
    #[error("the JWT secret must be at least 32 bytes")]
    WeakSecret,
}

impl Authenticator {
    pub fn new(
        key: VerificationKey,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, AuthConfigError> {
        let keys = match key {
            VerificationKey::Secret(secret) => {
                if secret.len() < 32 {
                    return Err(AuthConfigError::WeakSecret);
                }
                Keys::Fixed(DecodingKey::from_secret(&secret), Algorithm::HS256)
            }
            VerificationKey::PublicKeyPem(pem) => match DecodingKey::from_rsa_pem(&pem) {
                Ok(key) => Keys::Fixed(key, Algorithm::RS256),
                Err(_) => Keys::Fixed(
                    DecodingKey::from_ec_pem(&pem).map_err(|_| AuthConfigError::UnsupportedKey)?,
                    Algorithm::ES256,
                ),
            },
            VerificationKey::Remote(fetcher, min_refresh) => {
                Keys::Remote(RemoteKeys::new(fetcher, min_refresh))
            }
        };
        Ok(Authenticator {
            keys,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            mapping: ClaimMapping::default(),
            verified: VerifiedTokens::default(),
        })
    }

    /// Reads the role and provider from these claims instead.
    pub fn with_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation
    }

    /// Whether the identity provider's keys should be fetched again before verifying.
    pub fn keys_are_stale(&self) -> bool {
        matches!(&self.keys, Keys::Remote(remote) if remote.is_stale())
    }

    /// Fetches the identity provider's keys again (rate-limited); blocks.
    pub fn refresh_keys(&self) -> bool {
        match &self.keys {
            Keys::Remote(remote) => remote.refresh(),
            Keys::Fixed(..) => false,
        }
    }

    /// Checks a token with the keys at hand.
    pub fn check(&self, token: &str) -> Result<Checked, ApiError> {
        let fixed = matches!(self.keys, Keys::Fixed(..));
        if fixed {
            let now = jsonwebtoken::get_current_timestamp();
            if let Some(principal) = self.verified.recall(token, now) {
                return Ok(Checked::Principal(principal));
            }
        }
        let (key, algorithm) = match &self.keys {
            Keys::Fixed(key, algorithm) => (key.clone(), *algorithm),
            Keys::Remote(remote) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|_| ApiError::unauthorized("the token is not valid"))?;
                let kid = header.kid.ok_or_else(|| {
                    ApiError::unauthorized("the token does not name its key (kid)")
                })?;
                match remote.lookup(&kid) {
                    Lookup::Found(key, algorithm) => (key, algorithm),
                    Lookup::Unknown => return Ok(Checked::UnknownKey),
                }
            }
        };
        let data =
            decode::<serde_json::Map<String, Value>>(token, &key, &self.validation(algorithm))
                .map_err(|e| {
                    use jsonwebtoken::errors::ErrorKind;
                    let reason = match e.kind() {
                        ErrorKind::ExpiredSignature => "the token has expired",
                        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                        ErrorKind::InvalidAudience => "the token's audience is not accepted",
                        ErrorKind::MissingRequiredClaim(_) => {
                            "the token lacks a required claim (sub, iss, aud, exp)"
                        }
                        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                        ErrorKind::InvalidSignature => "the token's signature does not verify",
                        ErrorKind::ImmatureSignature => "the token is not valid yet",
                        _ => "the token is not valid",
                    };
                    ApiError::unauthorized(reason)
                })?;
        let claims = data.claims;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiError::unauthorized("the token's sub is empty"))?
            .to_string();
        let role = self.mapping.role(claims.get(&self.mapping.role_claim))?;
        let provider_id = match role {
            Role::Provider => Some(
                claims
                    .get(&self.mapping.provider_claim)
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        ApiError::unauthorized(format!(
                            "a provider token must carry {}",
                            self.mapping.provider_claim
                        ))
                    })?
                    .to_string(),
            ),
            _ => None,
        };
        let principal = Principal {
            sub,
            role,
            provider_id,
        };
        // `decode` required `exp` and read it as whole seconds; a token whose `exp` is
        // written otherwise is checked afresh each time.
        if let (true, Some(exp)) = (fixed, claims.get("exp").and_then(Value::as_u64)) {
            self.verified.remember(token, &principal, exp);
        }
        Ok(Checked::Principal(principal))
    }

    /// Verifies a token with the keys at hand (no fetching).
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        match self.check(token)? {
            Checked::Principal(principal) => Ok(principal),
            Checked::UnknownKey => Err(ApiError::unauthorized(
                "the token's key (kid) is not one the identity provider publishes",
            )),
        }
    }
}

/// The claims `dayops token` mints.
#[derive(Debug, Clone, Serialize)]
pub struct TokenClaims {
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
}

/// Signs development tokens with the shared secret (HS256).
pub fn mint(claims: &TokenClaims, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub role: Role,
    /// Set for (and only for) providers.
    pub provider_id: Option<String>,
}

impl Principal {
    /// Whether the caller may see data belonging to `provider_id`. Providers see their own;
    /// commissioners and auditors see everything.
    pub fn can_see(&self, provider_id: &str) -> bool {
        match self.role {
            Role::Provider => self.provider_id.as_deref() == Some(provider_id),
            Role::Commissioner | Role::Auditor => true,
        }
    }

    /// The provider a provider principal is confined to.
    pub fn own_provider(&self) -> Option<&str> {
        match self.role {
            Role::Provider => self.provider_id.as_deref(),
            _ => None,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            sub: self.sub.clone(),
            role: self.role,
        }
    }
}

/// The bearer token of the request.
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_string())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be: Bearer <token>",
        )),
    }
}

/// The request's principal: its token verified (fetching the identity provider's keys
/// on the blocking pool when they are stale or lack the token's key), its rate limit
/// spent, and for a provider, its provider known to the council.
async fn authenticate(req: HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state is not configured".into()))?;
    let token = bearer(&req)?;
    let refresh = |state: web::Data<AppState>| async move {
        if let Err(e) = web::block(move || state.auth.refresh_keys()).await {
            log::error!("fetching the identity provider's keys failed: {e}");
        }
    };
    if state.auth.keys_are_stale() {
        refresh(state.clone()).await;
    }
    let principal = match state.auth.check(&token)? {
        Checked::Principal(principal) => principal,
        Checked::UnknownKey => {
            // Perhaps the keys rotated: fetch them again (at most every 30 s), once.
            refresh(state.clone()).await;
            state.auth.verify(&token)?
        }
    };
    // Every authenticated request spends from its principal's bucket.
    let key = format!(
        "{}|{}|{}",
        principal.role,
        principal.sub,
        principal.provider_id.as_deref().unwrap_or("")
    );
    state.limiter.check(&key).map_err(|retry| {
        state.metrics.rate_limited();
        ApiError::RateLimited(retry)
    })?;
    if let Some(provider) = principal.own_provider() {
        if !state.known_providers.read().contains(provider) {
            let id = provider.to_string();
            let exists = crate::run(&state, move |conn| {
                Ok(dayops_persistence::providers::get(conn, &id)?.is_some())
            })
            .await?;
            if !exists {
                return Err(ApiError::unauthorized(
                    "the token's provider is not one the council has registered",
                ));
            }
            // Providers are never deleted: once known, always known.
            state.known_providers.write().insert(provider.to_string());
        }
    }
    Ok(principal)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// Authenticates, then lets `allowed` roles through (403 for the others).
fn with_role<T: 'static>(
    req: &HttpRequest,
    allowed: &'static [Role],
    wrap: fn(Principal) -> T,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let req = req.clone();
    Box::pin(async move {
        let principal = authenticate(req).await?;
        if allowed.contains(&principal.role) {
            Ok(wrap(principal))
        } else {
            Err(ApiError::forbidden())
        }
    })
}

/// A caller whose role is `commissioner`; extracted before the body is read, so a role
/// that may not call the operation gets 403 whatever it sent.
pub struct Commissioner(pub Principal);

impl FromRequest for Commissioner {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_role(req, &[Role::Commissioner], Commissioner)
    }
}

/// A caller whose role is `provider`: only providers submit, amend and validate.
pub struct Submitter(pub Principal);

impl FromRequest for Submitter {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_role(req, &[Role::Provider], Submitter)
    }
}

/// A caller who may read the audit trail: an auditor or a commissioner.
pub struct Overseer(pub Principal);

impl FromRequest for Overseer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        with_role(req, &[Role::Auditor, Role::Commissioner], Overseer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

    fn now() -> u64 {
        u64::try_from(chrono::Utc::now().timestamp()).unwrap()
    }

    fn claims() -> TokenClaims {
        TokenClaims {
            sub: "alice".into(),
            role: Role::Provider,
            iss: "dayops".into(),
            aud: "dayops-api".into(),
            exp: now() + 600,
            iat: now(),
            provider_id: Some("p1".into()),
        }
    }

    fn auth() -> Authenticator {
        Authenticator::new(
            VerificationKey::Secret(SECRET.to_vec()),
            "dayops",
            "dayops-api",
        )
        .unwrap()
    }

    #[test]
    fn valid_token_yields_principal() {
        let token = mint(&claims(), SECRET).unwrap();
        let p = auth().verify(&token).unwrap();
        assert_eq!(
            p,
            Principal {
                sub: "alice".into(),
                role: Role::Provider,
                provider_id: Some("p1".into())
            }
        );
    }

    #[test]
    fn weak_secret_is_refused() {
        assert!(matches!(
            Authenticator::new(VerificationKey::Secret(b"short".to_vec()), "i", "a"),
            Err(AuthConfigError::WeakSecret)
        ));
    }

    #[test]
    fn provider_without_provider_id_is_refused() {
        let mut c = claims();
        c.provider_id = None;
        assert!(auth().verify(&mint(&c, SECRET).unwrap()).is_err());
    }

    #[test]
    fn leeway_is_thirty_seconds() {
        let mut c = claims();
        c.exp = now() - 10;
        assert!(
            auth().verify(&mint(&c, SECRET).unwrap()).is_ok(),
            "within leeway"
        );
        c.exp = now() - 120;
        assert!(
            auth().verify(&mint(&c, SECRET).unwrap()).is_err(),
            "beyond leeway"
        );
    }

    fn auditor() -> Principal {
        Principal {
            sub: "alice".into(),
            role: Role::Auditor,
            provider_id: None,
        }
    }

    #[test]
    fn a_verified_token_is_recalled_until_it_expires_and_no_longer() {
        let tokens = VerifiedTokens::default();
        let principal = auditor();
        tokens.remember("t", &principal, 1_000);
        assert_eq!(tokens.recall("t", 1_000), Some(principal.clone()));
        assert_eq!(tokens.recall("t", 1_000 + LEEWAY_SECONDS), Some(principal));
        assert_eq!(tokens.recall("t2", 1_000), None, "another token's text");
        assert_eq!(tokens.recall("t", 1_001 + LEEWAY_SECONDS), None, "expired");
        assert!(tokens.0.lock().is_empty(), "an expired token is forgotten");
    }

    #[test]
    fn the_memory_of_verified_tokens_is_bounded() {
        let tokens = VerifiedTokens::default();
        let principal = auditor();
        for i in 0..=VERIFIED_TOKENS {
            tokens.remember(&i.to_string(), &principal, u64::MAX);
        }
        assert!(tokens.0.lock().len() <= VERIFIED_TOKENS);
    }

    #[test]
    fn a_token_that_fails_is_not_remembered_and_one_that_verifies_is() {
        let auth = auth();
        let good = mint(&claims(), SECRET).unwrap();
        // Another subject's claims under the good token's signature.
        let mut other = claims();
        other.sub = "mallory".into();
        let other = mint(&other, SECRET).unwrap();
        let (claims_part, _) = other.rsplit_once('.').unwrap();
        let (_, signature) = good.rsplit_once('.').unwrap();
        let forged = format!("{claims_part}.{signature}");
        for _ in 0..2 {
            assert!(auth.verify(&good).is_ok());
            assert!(auth.verify(&forged).is_err());
        }
        let remembered = auth.verified.0.lock();
        assert!(remembered.contains_key(&good));
        assert!(!remembered.contains_key(&forged));
    }

    const EC_PRIVATE: &str = include_str!("../../../tests/fixtures/es256-private.pem");
    const EC_PUBLIC: &str = include_str!("../../../tests/fixtures/es256-public.pem");
    const RSA_PRIVATE: &str = include_str!("../../../tests/fixtures/rs256-private.pem");
    const RSA_PUBLIC: &str = include_str!("../../../tests/fixtures/rs256-public.pem");

    #[test]
    fn public_keys_pin_their_algorithm() {
        let ec = Authenticator::new(
            VerificationKey::PublicKeyPem(EC_PUBLIC.as_bytes().to_vec()),
            "dayops",
            "dayops-api",
        )
        .unwrap();
        let rsa = Authenticator::new(
            VerificationKey::PublicKeyPem(RSA_PUBLIC.as_bytes().to_vec()),
            "dayops",
            "dayops-api",
        )
        .unwrap();
        let es = encode(
            &Header::new(Algorithm::ES256),
            &claims(),
            &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
        )
        .unwrap();
        let rs = encode(
            &Header::new(Algorithm::RS256),
            &claims(),
            &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(ec.verify(&es).is_ok());
        assert!(rsa.verify(&rs).is_ok());
        assert!(ec.verify(&rs).is_err());
        assert!(rsa.verify(&es).is_err());
        // An HS256 token "signed" with the public key text must not pass (key confusion).
        let confused = mint(&claims(), RSA_PUBLIC.as_bytes()).unwrap();
        assert!(rsa.verify(&confused).is_err());
        assert!(matches!(
            Authenticator::new(
                VerificationKey::PublicKeyPem(b"not a key".to_vec()),
                "i",
                "a"
            ),
            Err(AuthConfigError::UnsupportedKey)
        ));
    }
}
