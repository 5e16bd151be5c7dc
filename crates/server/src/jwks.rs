//! Fetching the identity provider's keys: its JWKS document, found at a configured URL
//! or through the issuer's OpenID Connect discovery document.

use std::io::Read;
use std::time::Duration;

use dayops_http::keys::FetchKeys;

/// The most a key set (or a discovery document) may weigh.
const MAX_BYTES: u64 = 1024 * 1024;

/// Where the key set is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `DAYOPS_JWT_JWKS_URL`.
    Jwks(String),
    /// The `jwks_uri` of `<issuer>/.well-known/openid-configuration`.
    Discovery { issuer: String },
}

impl KeySource {
    /// The discovery document's address for an issuer.
    pub fn discovery_url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }
}

pub struct HttpKeys {
    source: KeySource,
    agent: ureq::Agent,
}

impl HttpKeys {
    pub fn new(source: KeySource) -> HttpKeys {
        HttpKeys {
            source,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .redirects(0)
                .build(),
        }
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .agent
            .get(url)
            .set("Accept", "application/json")
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("{url}: {e}"))?;
        if body.len() as u64 > MAX_BYTES {
            return Err(format!("{url}: larger than {MAX_BYTES} bytes"));
        }
        Ok(body)
    }
}

impl FetchKeys for HttpKeys {
    fn fetch(&self) -> Result<Vec<u8>, String> {
        let jwks_url = match &self.source {
            KeySource::Jwks(url) => url.clone(),
            KeySource::Discovery { issuer } => {
                let url = KeySource::discovery_url(issuer);
                let document: serde_json::Value = serde_json::from_slice(&self.get(&url)?)
                    .map_err(|e| format!("{url}: not JSON: {e}"))?;
                document["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| format!("{url}: no jwks_uri"))?
                    .to_string()
            }
        };
        self.get(&jwks_url)
    }
}
