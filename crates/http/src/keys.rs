//! The keys tokens are verified with: one configured key, or the identity provider's
//! published key set (JWKS), cached, and fetched again when a token names a key id the
//! cache lacks (at most every [`MIN_REFRESH`], or as configured) or when the cache is older than
//! [`MAX_AGE`], so keys rotate without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::{Mutex, RwLock};

/// The shortest wait between two fetches of the key set by default: a flood of tokens
/// with made-up key ids costs the identity provider one request in this time.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);

/// How long a fetched key set is trusted before it is fetched again, so that a key the
/// identity provider withdrew stops verifying.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// Fetches the identity provider's key set (JWKS JSON); the server does it over HTTPS.
pub trait FetchKeys: Send + Sync + 'static {
    fn fetch(&self) -> Result<Vec<u8>, String>;
}

/// Verification keys by key id, each pinned to one algorithm.
#[derive(Default)]
pub struct KeySet {
    by_id: HashMap<String, (DecodingKey, Algorithm)>,
}

impl KeySet {
    /// The signing keys of a JWKS document. Only asymmetric keys are taken (RSA: RS256,
    /// PS256; EC P-256: ES256): a shared secret published in a key set would let anyone
    /// sign. Keys for encryption (`use: enc`), without a key id, or of other kinds are
    /// left out.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, String> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut by_id = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
            {
                continue;
            }
            let declared = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::try_from(a).ok());
            let algorithm = match (&jwk.algorithm, declared) {
                (AlgorithmParameters::RSA(_), Some(a @ (Algorithm::RS256 | Algorithm::PS256))) => a,
                (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(p), None | Some(Algorithm::ES256))
                    if p.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                by_id.insert(kid, (key, algorithm));
            }
        }
        if by_id.is_empty() {
            return Err("the key set holds no RSA or EC P-256 signing key with a key id".into());
        }
        Ok(KeySet { by_id })
    }

    fn get(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.by_id.get(kid).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// What a token's key id finds.
pub enum Lookup {
    Found(DecodingKey, Algorithm),
    /// Not in the cache; fetching the key set again may find it (see [`RemoteKeys::refresh`]).
    Unknown,
}

/// The identity provider's key set, cached.
pub struct RemoteKeys {
    fetcher: Box<dyn FetchKeys>,
    min_refresh: Duration,
    set: RwLock<Arc<KeySet>>,
    /// When the set was last fetched (successfully or not), to space fetches out.
    fetched_at: Mutex<Option<Instant>>,
    /// When the set in the cache was fetched.
    set_at: Mutex<Option<Instant>>,
}

impl RemoteKeys {
    /// A cache that fetches from `fetcher`; it tries once now, and a failure is logged
    /// (the service starts, and tries again on the first token).
    pub fn new(fetcher: Box<dyn FetchKeys>, min_refresh: Duration) -> RemoteKeys {
        let keys = RemoteKeys {
            fetcher,
            min_refresh,
            set: RwLock::new(Arc::new(KeySet::default())),
            fetched_at: Mutex::new(None),
            set_at: Mutex::new(None),
        };
        *keys.fetched_at.lock() = Some(Instant::now());
        if let Err(e) = keys.fetch_now() {
            log::error!("cannot fetch the identity provider's keys yet: {e}");
        }
        keys
    }

    pub fn lookup(&self, kid: &str) -> Lookup {
        match self.set.read().get(kid) {
            Some((key, algorithm)) => Lookup::Found(key, algorithm),
            None => Lookup::Unknown,
        }
    }

    /// Whether the cached set is older than [`MAX_AGE`] (or was never fetched).
    pub fn is_stale(&self) -> bool {
        self.set_at.lock().is_none_or(|at| at.elapsed() > MAX_AGE)
    }

    /// Fetches the set again unless it was fetched less than `min_refresh` ago; blocks,
    /// so call it on the blocking pool. Returns whether it fetched.
    pub fn refresh(&self) -> bool {
        {
            let mut last = self.fetched_at.lock();
            if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.fetch_now() {
            Ok(n) => {
                log::info!("fetched the identity provider's keys: {n} signing key(s)");
                true
            }
            Err(e) => {
                log::error!("cannot fetch the identity provider's keys: {e}");
                false
            }
        }
    }

    fn fetch_now(&self) -> Result<usize, String> {
        let set = KeySet::from_jwks(&self.fetcher.fetch()?)?;
        let n = set.len();
        *self.set.write() = Arc::new(set);
        *self.set_at.lock() = Some(Instant::now());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::EncodingKey;

    const RSA_PRIVATE: &str = include_str!("../../../tests/fixtures/rs256-private.pem");
    const EC_PRIVATE: &str = include_str!("../../../tests/fixtures/es256-private.pem");

    fn jwk(key: &EncodingKey, algorithm: Algorithm, kid: &str) -> serde_json::Value {
        let mut jwk = Jwk::from_encoding_key(key, algorithm).unwrap();
        jwk.common.key_id = Some(kid.into());
        serde_json::to_value(jwk).unwrap()
    }

    #[test]
    fn takes_asymmetric_signing_keys_only() {
        let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let ec = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let mut no_alg = jwk(&rsa, Algorithm::RS256, "no-alg");
        no_alg.as_object_mut().unwrap().remove("alg");
        let mut encryption = jwk(&rsa, Algorithm::RS256, "enc");
        encryption["use"] = serde_json::json!("enc");
        let mut anonymous = jwk(&ec, Algorithm::ES256, "x");
        anonymous.as_object_mut().unwrap().remove("kid");
        let set = serde_json::json!({"keys": [
            jwk(&rsa, Algorithm::RS256, "rsa"),
            jwk(&ec, Algorithm::ES256, "ec"),
            jwk(&secret, Algorithm::HS256, "shared"),
            no_alg, encryption, anonymous,
        ]});
        let keys = KeySet::from_jwks(set.to_string().as_bytes()).unwrap();
        let mut ids: Vec<_> = keys.by_id.keys().cloned().collect();
        ids.sort();
        assert_eq!(ids, ["ec", "no-alg", "rsa"]);
        assert_eq!(keys.get("rsa").unwrap().1, Algorithm::RS256);
        assert_eq!(keys.get("no-alg").unwrap().1, Algorithm::RS256);
        assert_eq!(keys.get("ec").unwrap().1, Algorithm::ES256);
        let only_secret = serde_json::json!({"keys": [jwk(&secret, Algorithm::HS256, "s")]});
        assert!(KeySet::from_jwks(only_secret.to_string().as_bytes()).is_err());
        assert!(KeySet::from_jwks(b"{}").is_err());
    }

    struct Counting(std::sync::atomic::AtomicUsize, String);

    impl FetchKeys for Arc<Counting> {
        fn fetch(&self) -> Result<Vec<u8>, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.1.clone().into_bytes())
        }
    }

    #[test]
    fn refreshes_are_spaced_out() {
        let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let set = serde_json::json!({"keys": [jwk(&rsa, Algorithm::RS256, "k1")]}).to_string();
        let counter = Arc::new(Counting(Default::default(), set));
        let keys = RemoteKeys::new(Box::new(counter.clone()), MIN_REFRESH);
        assert!(matches!(
            keys.lookup("k1"),
            Lookup::Found(_, Algorithm::RS256)
        ));
        assert!(matches!(keys.lookup("k2"), Lookup::Unknown));
        assert!(!keys.is_stale());
        // Fetched at start: an unknown key id does not fetch again within MIN_REFRESH.
        assert!(!keys.refresh());
        assert!(!keys.refresh());
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
