//! Bearer-token authentication and the roles of SPEC §2.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use dayops_domain::audit::Actor;
use dayops_domain::types::Role;

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
}

/// Verifies tokens: signature with the one pinned algorithm, and `sub`, `role`, `iss`,
/// `aud`, `exp` all present, with `iss` and `aud` as configured.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
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
        let (key, algorithm) = match key {
            VerificationKey::Secret(secret) => {
                if secret.len() < 32 {
                    return Err(AuthConfigError::WeakSecret);
                }
                (DecodingKey::from_secret(&secret), Algorithm::HS256)
            }
            VerificationKey::PublicKeyPem(pem) => match DecodingKey::from_rsa_pem(&pem) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => (
                    DecodingKey::from_ec_pem(&pem).map_err(|_| AuthConfigError::UnsupportedKey)?,
                    Algorithm::ES256,
                ),
            },
        };
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        Ok(Authenticator { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let data = decode::<VerifiedClaims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let reason = match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidAudience => "the token's audience is not accepted",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (sub, role, iss, aud, exp)",
                ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::Json(_) => "the token's claims are not valid (role must be provider, commissioner or auditor)",
                _ => "the token is not valid",
            };
            ApiError::unauthorized(reason)
        })?;
        let claims = data.claims;
        let role = Role::parse(&claims.role).ok_or_else(|| {
            ApiError::unauthorized("the token's role must be provider, commissioner or auditor")
        })?;
        if claims.sub.trim().is_empty() {
            return Err(ApiError::unauthorized("the token's sub is empty"));
        }
        let provider_id = match (role, claims.provider_id) {
            (Role::Provider, Some(id)) if !id.is_empty() => Some(id),
            (Role::Provider, _) => {
                return Err(ApiError::unauthorized(
                    "a provider token must carry provider_id",
                ))
            }
            (_, _) => None,
        };
        Ok(Principal {
            sub: claims.sub,
            role,
            provider_id,
        })
    }
}

/// The claims this service reads; others (iat, jti, …) are allowed and ignored.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
    role: String,
    #[serde(default)]
    provider_id: Option<String>,
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

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state is not configured".into()))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            token.trim()
        }
        _ => {
            return Err(ApiError::unauthorized(
                "the Authorization header must be: Bearer <token>",
            ))
        }
    };
    let principal = state.auth.verify(token)?;
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
    Ok(principal)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// A caller whose role is `commissioner`; extracted before the body is read, so a role
/// that may not call the operation gets 403 whatever it sent.
pub struct Commissioner(pub Principal);

impl FromRequest for Commissioner {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|p| {
            if p.role == Role::Commissioner {
                Ok(Commissioner(p))
            } else {
                Err(ApiError::forbidden())
            }
        }))
    }
}

/// A caller whose role is `provider`: only providers submit, amend and validate.
pub struct Submitter(pub Principal);

impl FromRequest for Submitter {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|p| {
            if p.role == Role::Provider {
                Ok(Submitter(p))
            } else {
                Err(ApiError::forbidden())
            }
        }))
    }
}

/// A caller who may read the audit trail: an auditor or a commissioner.
pub struct Overseer(pub Principal);

impl FromRequest for Overseer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|p| match p.role {
            Role::Auditor | Role::Commissioner => Ok(Overseer(p)),
            Role::Provider => Err(ApiError::forbidden()),
        }))
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
