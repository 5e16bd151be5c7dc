//! Webhook signatures, as the Standard Webhooks specification defines them: a secret
//! `whsec_<base64 key>`, and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "<webhook-id>.<webhook-timestamp>.<body>">`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new signing secret from `key` (at least 24 random bytes).
pub fn new_secret(key: &[u8]) -> String {
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header of a delivery, or `None` for a secret that is not one.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Where deliveries may go: hosts named in `allowed` (development and tests) may be
/// reached over plain `http` and at any address; every other target must be `https`, and
/// must not resolve to a loopback, private, link-local or otherwise non-public address.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<String>,
}

/// A delivery target's host and port, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl TargetPolicy {
    /// From `DAYOPS_WEBHOOK_ALLOW_HOSTS`: host names (or addresses), comma-separated.
    pub fn new(allowed: &str) -> Self {
        TargetPolicy {
            allowed: allowed
                .split(',')
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
    }

    /// Checks a subscription's URL; the reason it is refused, if it is.
    pub fn check_url(&self, url: &str) -> Result<Target, String> {
        if url.len() > 2048 {
            return Err("is longer than 2048 characters".into());
        }
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("must be an https:// URL".into());
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err("must not carry credentials".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                if host.contains(':') && !host.starts_with('[') {
                    (authority, None) // a bare IPv6 address is not a valid authority
                } else {
                    (host, Some(port))
                }
            }
            _ => (authority, None),
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("has no host".into());
        }
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| "has a port that is not a number")?,
            None if https => 443,
            None => 80,
        };
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if self.allows_host(&bare) {
            return Ok(Target { host: bare, port });
        }
        if !https {
            return Err("must be https (plain http only to hosts the council allows)".into());
        }
        if bare == "localhost" || bare.ends_with(".localhost") {
            return Err("must not name this machine".into());
        }
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            if !is_public(ip) {
                return Err("must not be a loopback, private or link-local address".into());
            }
        }
        Ok(Target { host: bare, port })
    }
}

/// Whether deliveries may go to `ip`: not loopback, private, link-local, shared
/// (carrier-grade NAT), unspecified, multicast, broadcast or documentation space.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_https_and_public_unless_allowed() {
        let policy = TargetPolicy::new("127.0.0.1, receiver.test");
        for (url, ok) in [
            ("https://backoffice.example/hooks", true),
            ("https://backoffice.example:8443/hooks?x=1", true),
            ("http://backoffice.example/hooks", false),
            ("ftp://backoffice.example/", false),
            ("https://user:pw@backoffice.example/", false),
            ("https://10.0.0.5/hooks", false),
            ("https://192.168.1.1/", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://[::1]/", false),
            ("https://[fd00::1]:443/", false),
            ("https://100.64.0.1/", false),
            ("https://localhost/", false),
            ("https://8.8.8.8/", true),
            ("http://127.0.0.1:9000/hooks", true),
            ("http://receiver.test/hooks", true),
            ("https://", false),
            ("https://host:notaport/", false),
        ] {
            assert_eq!(policy.check_url(url).is_ok(), ok, "{url}");
        }
        assert_eq!(
            policy.check_url("http://127.0.0.1:9000/x").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 9000
            }
        );
    }

    /// The specification's own example (and its reference libraries' test vector).
    #[test]
    fn signs_as_the_specification_does() {
        let signed = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signed.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(signature("not-a-secret", "id", 1, b"{}"), None);
        assert!(new_secret(&[7; 24]).starts_with("whsec_"));
    }
}
