//! Configuration, from the environment only.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DAYOPS_DATABASE_URL` | `data/dayops.db` | SQLite file path, or `postgres://…` |
//! | `DAYOPS_BIND` | `127.0.0.1:8080` | listen address |
//! | `DAYOPS_JWT_SECRET` | — | HS256 shared secret (at least 32 bytes) |
//! | `DAYOPS_JWT_PUBLIC_KEY` | — | path to a PEM public key (RSA: RS256, EC P-256: ES256); used instead of the secret |
//! | `DAYOPS_JWT_JWKS_URL` | — | the identity provider's key set (JWKS); tokens name their key with `kid`; used instead of a key |
//! | `DAYOPS_JWT_DISCOVERY` | `false` | find the key set through `<DAYOPS_JWT_ISSUER>/.well-known/openid-configuration` |
//! | `DAYOPS_JWT_ROLE_CLAIM` | `role` | the claim naming the role: a string, or an array such as Entra ID's `roles` |
//! | `DAYOPS_JWT_ROLE_VALUES` | — | the claim's values for each role, e.g. `DayOps.Provider=provider,DayOps.Commissioner=commissioner,DayOps.Auditor=auditor`; by default the role names themselves |
//! | `DAYOPS_JWT_PROVIDER_CLAIM` | `provider_id` | the claim naming a provider's id |
//! | `DAYOPS_JWT_KEYS_MIN_REFRESH_SECONDS` | `30` | the shortest wait between two fetches of the key set (a token naming an unknown `kid` fetches it again; it is fetched again anyway after an hour) |
//! | `DAYOPS_JWT_ISSUER` | `dayops` | required `iss` |
//! | `DAYOPS_JWT_AUDIENCE` | `dayops-api` | required `aud` |
//! | `DAYOPS_MAX_BODY_BYTES` | `16777216` | request body limit (413 above it), after gzip decoding too |
//! | `DAYOPS_BODY_TIMEOUT_SECONDS` | `30` | time a request's body may take to arrive (408, connection closed) |
//! | `DAYOPS_DB_POOL_SIZE` | `16` | database connections per process |
//! | `DAYOPS_WORKERS` | number of cores | HTTP worker threads |
//! | `DAYOPS_RATE_LIMIT_PER_MINUTE` | `1200` | requests per principal a minute (bursts up to it); 0 turns it off |
//! | `DAYOPS_LOG_SIGNING_KEY` | `data/log-signing.key` | the audit log's Ed25519 signing key (`dayops log keygen`); made on first start if missing |
//! | `DAYOPS_LOG_ORIGIN` | `dayops.local/audit` | the origin of a key made on first start (a key file names its own) |
//! | `DAYOPS_LOG_CHECKPOINT_SECONDS` | `60` | how often a checkpoint is signed while there are new events |
//! | `DAYOPS_LOG_SEQUENCER` | `true` | whether this process takes part in sequencing the audit log (on PostgreSQL one taking part leads at a time) |
//! | `DAYOPS_WEBHOOKS` | `true` | whether this process delivers webhooks (processes that do share the work) |
//! | `DAYOPS_WEBHOOK_ALLOW_HOSTS` | — | hosts webhooks may reach over plain `http` and at private addresses (development, tests), comma-separated |
//! | `DAYOPS_WEBHOOK_TIMEOUT_SECONDS` | `5` | connect and answer timeout of a delivery |
//! | `DAYOPS_WEBHOOK_RETRY_SECONDS` | `10` | wait before a failed delivery's first retry (doubling, up to an hour, with jitter) |
//! | `DAYOPS_WEBHOOK_DISABLE_AFTER_SECONDS` | `259200` | how long deliveries may keep failing before the subscription is disabled (3 days) |
//! | `DAYOPS_CORS_ORIGINS` | — | browser origins allowed to call the API, comma-separated |
//! | `RUST_LOG` | `info` | log filter |

use std::fmt;

use dayops_domain::note::LogSigner;
use dayops_domain::types::Role;
use dayops_http::auth::ClaimMapping;
use dayops_http::VerificationKey;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub enum JwtKey {
    Secret(Secret),
    PublicKeyFile(String),
    /// The identity provider's published keys.
    Remote(crate::jwks::KeySource),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: String,
    pub jwt_key: Option<JwtKey>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// Where the role and provider are in a token.
    pub jwt_role_claim: String,
    /// `value=role` pairs, comma-separated; empty for the role names themselves.
    pub jwt_role_values: String,
    pub jwt_provider_claim: String,
    /// The shortest wait between two fetches of the identity provider's keys.
    pub jwt_keys_min_refresh_secs: u64,
    pub max_body_bytes: usize,
    /// How long a request's body may take to arrive.
    pub body_timeout_secs: u64,
    pub pool_size: u32,
    pub workers: usize,
    pub rate_limit_per_minute: u32,
    /// The audit log's signing key file.
    pub log_key_path: String,
    /// The origin of a signing key made on first start.
    pub log_origin: String,
    pub checkpoint_interval_secs: u64,
    /// Whether this process runs the log's sequencer (one leads among those that do).
    pub sequencer: bool,
    /// Whether this process delivers webhooks.
    pub webhooks: bool,
    pub webhook_allow_hosts: String,
    pub webhook_timeout_secs: u64,
    pub webhook_retry_secs: u64,
    pub webhook_disable_after_secs: u64,
    /// Browser origins allowed to call the API.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
    #[error("set DAYOPS_JWT_SECRET (HS256), DAYOPS_JWT_PUBLIC_KEY (PEM file), DAYOPS_JWT_JWKS_URL or DAYOPS_JWT_DISCOVERY=true to verify tokens")]
    NoJwtKey,
    #[error("cannot read DAYOPS_JWT_PUBLIC_KEY file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("token verification cannot be configured: {0}")]
    Auth(#[from] dayops_http::auth::AuthConfigError),
    #[error("the audit log's signing key {0}: {1}")]
    LogKey(String, String),
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match var(name) {
        Some(text) => text
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid(name, e.to_string())),
        None => Ok(default),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let issuer = var("DAYOPS_JWT_ISSUER").unwrap_or_else(|| "dayops".to_string());
        let discovery: bool = parsed("DAYOPS_JWT_DISCOVERY", false)?;
        let jwt_key = match (
            var("DAYOPS_JWT_JWKS_URL"),
            discovery,
            var("DAYOPS_JWT_PUBLIC_KEY"),
            var("DAYOPS_JWT_SECRET"),
        ) {
            (Some(url), _, _, _) => Some(JwtKey::Remote(crate::jwks::KeySource::Jwks(url))),
            (None, true, _, _) => Some(JwtKey::Remote(crate::jwks::KeySource::Discovery {
                issuer: issuer.clone(),
            })),
            (None, false, Some(path), _) => Some(JwtKey::PublicKeyFile(path)),
            (None, false, None, Some(secret)) => Some(JwtKey::Secret(Secret(secret.into_bytes()))),
            (None, false, None, None) => None,
        };
        Ok(Config {
            database_url: var("DAYOPS_DATABASE_URL")
                .unwrap_or_else(|| "data/dayops.db".to_string()),
            bind: var("DAYOPS_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            jwt_key,
            jwt_issuer: issuer,
            jwt_audience: var("DAYOPS_JWT_AUDIENCE").unwrap_or_else(|| "dayops-api".to_string()),
            jwt_role_claim: var("DAYOPS_JWT_ROLE_CLAIM").unwrap_or_else(|| "role".to_string()),
            jwt_role_values: var("DAYOPS_JWT_ROLE_VALUES").unwrap_or_default(),
            jwt_provider_claim: var("DAYOPS_JWT_PROVIDER_CLAIM")
                .unwrap_or_else(|| "provider_id".to_string()),
            jwt_keys_min_refresh_secs: parsed("DAYOPS_JWT_KEYS_MIN_REFRESH_SECONDS", 30)?,
            max_body_bytes: parsed("DAYOPS_MAX_BODY_BYTES", 16 * 1024 * 1024)?,
            body_timeout_secs: parsed("DAYOPS_BODY_TIMEOUT_SECONDS", 30)?,
            pool_size: parsed("DAYOPS_DB_POOL_SIZE", 16)?,
            rate_limit_per_minute: parsed("DAYOPS_RATE_LIMIT_PER_MINUTE", 1200)?,
            log_key_path: var("DAYOPS_LOG_SIGNING_KEY")
                .unwrap_or_else(|| "data/log-signing.key".to_string()),
            log_origin: var("DAYOPS_LOG_ORIGIN")
                .unwrap_or_else(|| "dayops.local/audit".to_string()),
            checkpoint_interval_secs: parsed("DAYOPS_LOG_CHECKPOINT_SECONDS", 60)?,
            sequencer: parsed("DAYOPS_LOG_SEQUENCER", true)?,
            webhooks: parsed("DAYOPS_WEBHOOKS", true)?,
            webhook_allow_hosts: var("DAYOPS_WEBHOOK_ALLOW_HOSTS").unwrap_or_default(),
            webhook_timeout_secs: parsed("DAYOPS_WEBHOOK_TIMEOUT_SECONDS", 5)?,
            webhook_retry_secs: parsed("DAYOPS_WEBHOOK_RETRY_SECONDS", 10)?,
            webhook_disable_after_secs: parsed("DAYOPS_WEBHOOK_DISABLE_AFTER_SECONDS", 259_200)?,
            cors_origins: cors_origins(&var("DAYOPS_CORS_ORIGINS").unwrap_or_default())?,
            workers: parsed(
                "DAYOPS_WORKERS",
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )?,
        })
    }

    /// The key tokens are verified with.
    pub fn verification_key(&self) -> Result<VerificationKey, ConfigError> {
        match &self.jwt_key {
            Some(JwtKey::Secret(secret)) => Ok(VerificationKey::Secret(secret.0.clone())),
            Some(JwtKey::PublicKeyFile(path)) => std::fs::read(path)
                .map(VerificationKey::PublicKeyPem)
                .map_err(|e| ConfigError::KeyFile(path.clone(), e)),
            Some(JwtKey::Remote(source)) => Ok(VerificationKey::Remote(
                Box::new(crate::jwks::HttpKeys::new(source.clone())),
                std::time::Duration::from_secs(self.jwt_keys_min_refresh_secs),
            )),
            None => Err(ConfigError::NoJwtKey),
        }
    }

    /// What `/.well-known/openid-configuration` answers.
    pub fn discovery(&self) -> Option<dayops_http::routes::health::Discovery> {
        use crate::jwks::KeySource;
        use dayops_http::routes::health::{Discovery, IdentityProvider};
        match &self.jwt_key {
            Some(JwtKey::Remote(KeySource::Discovery { issuer })) => {
                Some(Discovery::At(KeySource::discovery_url(issuer)))
            }
            Some(JwtKey::Remote(KeySource::Jwks(url))) => Some(Discovery::Keys(IdentityProvider {
                issuer: self.jwt_issuer.clone(),
                jwks_uri: url.clone(),
            })),
            _ => None,
        }
    }

    /// Where tokens carry the role and the provider.
    pub fn claim_mapping(&self) -> Result<ClaimMapping, ConfigError> {
        let mut mapping = ClaimMapping {
            role_claim: self.jwt_role_claim.clone(),
            provider_claim: self.jwt_provider_claim.clone(),
            ..ClaimMapping::default()
        };
        if !self.jwt_role_values.trim().is_empty() {
            mapping.role_values = self
                .jwt_role_values
                .split(',')
                .map(|pair| {
                    let (value, role) = pair.split_once('=').unwrap_or((pair, ""));
                    Role::parse(role.trim())
                        .map(|role| (value.trim().to_string(), role))
                        .ok_or_else(|| {
                            ConfigError::Invalid(
                                "DAYOPS_JWT_ROLE_VALUES",
                                format!("{pair:?} is not value=provider|commissioner|auditor"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(mapping)
    }
}

impl Config {
    /// How webhook deliveries are made.
    pub fn delivery(&self) -> crate::webhooks::DeliveryConfig {
        crate::webhooks::DeliveryConfig {
            policy: dayops_domain::webhook::TargetPolicy::new(&self.webhook_allow_hosts),
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs.max(1)),
            first_retry: std::time::Duration::from_secs(self.webhook_retry_secs),
            disable_after: std::time::Duration::from_secs(self.webhook_disable_after_secs),
        }
    }

    /// The audit log's signing key, read from its file. A missing file is made with a new
    /// key for `log_origin` (a development convenience, logged as a warning: a deployment
    /// makes its key with `dayops log keygen` and gives every process the same file).
    pub fn log_signer(&self) -> Result<LogSigner, ConfigError> {
        let path = std::path::Path::new(&self.log_key_path);
        let fail = |e: String| ConfigError::LogKey(self.log_key_path.clone(), e);
        match std::fs::read_to_string(path) {
            Ok(text) => LogSigner::parse(&text).map_err(|e| fail(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let signer = new_log_signer(&self.log_origin).map_err(fail)?;
                match write_key_file(path, &signer) {
                    Ok(()) => {
                        log::warn!(
                            "made a new audit log signing key at {} for {}; its public key is {}",
                            self.log_key_path,
                            signer.name(),
                            signer.verifier().encode()
                        );
                        Ok(signer)
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text =
                            std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
                        LogSigner::parse(&text).map_err(|e| fail(e.to_string()))
                    }
                    Err(e) => Err(fail(e.to_string())),
                }
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }
}

/// Browser origins, each `scheme://host[:port]` (a trailing `/` is dropped): anything
/// else is refused at start, not left to fail a browser later.
fn cors_origins(text: &str) -> Result<Vec<String>, ConfigError> {
    text.split(',')
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let uri: actix_web::http::Uri = origin.parse().map_err(|_| {
                ConfigError::Invalid("DAYOPS_CORS_ORIGINS", format!("{origin:?} is not a URL"))
            })?;
            let plain = uri.scheme().is_some()
                && uri.authority().is_some()
                && uri
                    .path_and_query()
                    .is_none_or(|p| p.as_str().is_empty() || p == "/");
            if plain {
                Ok(origin.to_string())
            } else {
                Err(ConfigError::Invalid(
                    "DAYOPS_CORS_ORIGINS",
                    format!("{origin:?} is not an origin (scheme://host[:port])"),
                ))
            }
        })
        .collect()
}

/// A new signing key for `origin`, from the operating system's randomness.
pub fn new_log_signer(origin: &str) -> Result<LogSigner, String> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| e.to_string())?;
    LogSigner::from_seed(origin, seed).map_err(|e| e.to_string())
}

/// Writes a key file readable by its owner only, never over an existing one: written
/// whole to a temporary name, then linked into place (which fails if the name exists).
pub fn write_key_file(path: &std::path::Path, signer: &LogSigner) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(format!("{}\n", signer.encode()).as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_origins() {
        assert_eq!(
            cors_origins(" https://portal.council.example/, http://localhost:3000").unwrap(),
            ["https://portal.council.example", "http://localhost:3000"]
        );
        assert!(cors_origins("").unwrap().is_empty());
        for bad in [
            "*",
            "portal.council.example",
            "https://x.example/path",
            "not a url",
        ] {
            assert!(cors_origins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let key = JwtKey::Secret(Secret(b"super-secret-value".to_vec()));
        assert!(!format!("{key:?}").contains("super"));
    }
}
