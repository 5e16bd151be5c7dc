//! Webhook deliveries: a worker thread that takes due subscriptions (a lease, so several
//! processes share the work and a killed one's is taken over when it runs out), posts their
//! next events in the feed's order, signed per the Standard Webhooks specification, and
//! records each attempt. A failed event is retried with exponential backoff and jitter;
//! after `disable_after` of failures the subscription is disabled and its owner's feed
//! says so. Targets are checked again at connection time: a host must resolve to a public
//! address unless the council allows it (`DAYOPS_WEBHOOK_ALLOW_HOSTS`); redirects are not
//! followed, timeouts are short and at most 64 KiB of an answer is read.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use chrono::Utc;

use dayops_domain::webhook::{is_public, signature, TargetPolicy};
use dayops_persistence::feed::FeedEvent;
use dayops_persistence::webhooks::{self, AfterFailure, Attempt, Claimed};
use dayops_persistence::{DbConnection, Pool, StoreError};

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub policy: TargetPolicy,
    pub timeout: Duration,
    /// The wait before the first retry; each later one doubles it, up to an hour.
    pub first_retry: Duration,
    /// How long a subscription may fail before it is disabled.
    pub disable_after: Duration,
}

/// How soon an idle subscription is looked at again.
const IDLE: Duration = Duration::from_millis(200);
/// Events delivered in one turn before the subscription is given back.
const BATCH: usize = 50;
/// The most of a receiver's answer that is read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Runs deliveries until `alive` says to stop.
pub fn run(pool: &Pool, config: &DeliveryConfig, alive: impl Fn() -> bool) {
    let me = format!("{}:{}", std::process::id(), dayops_persistence::new_id());
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(config.timeout)
        .timeout(config.timeout)
        .user_agent("dayops-webhooks/1")
        .resolver(PublicOnly(config.policy.clone()))
        .build();
    while alive() {
        let turn = pool
            .get()
            .map_err(StoreError::from)
            .and_then(|mut conn| take_turn(&mut conn, &agent, config, &me));
        match turn {
            Ok(true) => {}
            Ok(false) => std::thread::sleep(IDLE),
            Err(e) => {
                log::error!("webhook deliveries: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Takes one due subscription and delivers what it can; whether there was one.
fn take_turn(
    conn: &mut DbConnection,
    agent: &ureq::Agent,
    config: &DeliveryConfig,
    me: &str,
) -> Result<bool, StoreError> {
    // A turn delivers for at most half its lease (and one delivery takes at most the
    // timeout), so the lease outlasts it; a process killed mid-turn leaves the
    // subscription to another once the lease runs out.
    let lease = config.timeout * 4 + Duration::from_secs(2);
    let Some(mut claimed) = webhooks::claim(conn, me, lease)? else {
        return Ok(false);
    };
    let started = Instant::now();
    for _ in 0..BATCH {
        if started.elapsed() > lease / 2 {
            break;
        }
        let Some((event, redelivery)) = webhooks::next_event(conn, &claimed)? else {
            let idle = Utc::now() + chrono::Duration::from_std(IDLE).unwrap_or_default();
            webhooks::release(conn, me, &claimed.id, Some(idle))?;
            return Ok(true);
        };
        let attempt = deliver(agent, &claimed, &event);
        let after_failure =
            if webhooks::past_retry_window(claimed.failing_since, config.disable_after) {
                AfterFailure::Disable
            } else {
                AfterFailure::RetryAt(Utc::now() + backoff(config.first_retry, claimed.failures))
            };
        if !webhooks::record(
            conn,
            me,
            &claimed,
            (&event, redelivery),
            &attempt,
            after_failure,
        )? {
            return Ok(true); // the lease ran out and another process has it
        }
        if !attempt.succeeded && !redelivery {
            log::warn!(
                "webhook subscription {}: event {} not delivered ({})",
                claimed.id,
                event.seq,
                attempt.error.as_deref().unwrap_or("no answer")
            );
            webhooks::release(conn, me, &claimed.id, None)?;
            return Ok(true);
        }
        if attempt.succeeded && !redelivery {
            claimed.cursor_seq = event.seq;
            claimed.failures = 0;
            claimed.failing_since = None;
        }
    }
    webhooks::release(conn, me, &claimed.id, Some(Utc::now()))?;
    Ok(true)
}

/// The wait before retry `failures + 1`: doubling from `first`, at most an hour, with a
/// fifth either way of jitter so that failing subscriptions do not retry in step.
fn backoff(first: Duration, failures: i32) -> chrono::Duration {
    let doubled = first.saturating_mul(1u32 << failures.clamp(0, 20));
    let capped = doubled.min(Duration::from_secs(3600));
    let mut byte = [0u8; 1];
    let jitter = match getrandom::getrandom(&mut byte) {
        Ok(()) => 0.8 + 0.4 * f64::from(byte[0]) / 255.0,
        Err(_) => 1.0,
    };
    chrono::Duration::from_std(capped.mul_f64(jitter)).unwrap_or(chrono::Duration::hours(1))
}

/// The body of a delivery: the Standard Webhooks envelope around the feed event.
fn body(event: &FeedEvent) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": event.event_type,
        "timestamp": event.occurred_at,
        "data": event,
    }))
    .unwrap_or_default()
}

/// One attempt to deliver `event`.
fn deliver(agent: &ureq::Agent, claimed: &Claimed, event: &FeedEvent) -> Attempt {
    let started = Instant::now();
    let body = body(event);
    let timestamp = Utc::now().timestamp();
    let elapsed =
        |started: Instant| i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let Some(signed) = signature(&claimed.secret, &event.id, timestamp, &body) else {
        return Attempt {
            status_code: None,
            error: Some("the subscription's secret is not valid".into()),
            duration_ms: 0,
            succeeded: false,
        };
    };
    let result = agent
        .post(&claimed.url)
        .set("Content-Type", "application/json")
        .set("webhook-id", &event.id)
        .set("webhook-timestamp", &timestamp.to_string())
        .set("webhook-signature", &signed)
        .send_bytes(&body);
    let (status, error) = match result {
        Ok(response) => (Some(response.status()), drain(response)),
        Err(ureq::Error::Status(code, response)) => {
            drain(response);
            (Some(code), Some(format!("the receiver answered {code}")))
        }
        Err(ureq::Error::Transport(e)) => (None, Some(e.to_string())),
    };
    let succeeded = status.is_some_and(|s| (200..300).contains(&s));
    Attempt {
        status_code: status.map(i32::from),
        error: if succeeded {
            None
        } else {
            error.or(Some("not a 2xx answer".into()))
        },
        duration_ms: elapsed(started),
        succeeded,
    }
}

/// Reads (and drops) at most `MAX_ANSWER` bytes of an answer, so the connection can be
/// reused without a large answer being held.
fn drain(response: ureq::Response) -> Option<String> {
    let mut sink = Vec::new();
    let _ = response
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_end(&mut sink);
    None
}

/// Resolves a delivery's host to its public addresses only, unless the host is allowed:
/// checked when connecting, so a name that resolves to a private address later (DNS
/// rebinding) is refused too.
struct PublicOnly(TargetPolicy);

impl ureq::Resolver for PublicOnly {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let host = netloc.rsplit_once(':').map_or(netloc, |(host, _)| host);
        let addresses: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        if self.0.allows_host(host) {
            return Ok(addresses);
        }
        let public: Vec<SocketAddr> = addresses
            .into_iter()
            .filter(|a| is_public(a.ip()))
            .collect();
        if public.is_empty() {
            return Err(std::io::Error::other(
                "refused: the host has no public address",
            ));
        }
        Ok(public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour() {
        let first = Duration::from_secs(10);
        for failures in 0..6 {
            let wait = backoff(first, failures).num_milliseconds() as f64;
            let plain = 10_000.0 * f64::from(1u32 << failures);
            assert!(
                wait >= plain * 0.8 - 1.0 && wait <= plain * 1.2 + 1.0,
                "{failures}: {wait}"
            );
        }
        assert!(backoff(first, 30).num_seconds() <= 3600 * 12 / 10);
    }
}
