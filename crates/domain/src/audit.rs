//! The audit chain: each event's hash covers the previous hash and the event itself, so
//! altering, inserting or removing any event breaks every hash after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::canonical::{canonical_json, sha256_hex};

/// The hash the first event chains from.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made a change: the token's subject and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub sub: String,
    pub role: crate::types::Role,
}

/// An event about to be appended; the chain assigns `seq`, `at` and the hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: String,
    pub version: Option<i32>,
    pub content_sha256: Option<String>,
}

/// The hashed content of an event: everything but `prev_hash` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// Microsecond precision, the finest both back ends store.
    pub at: DateTime<Utc>,
    pub actor_sub: String,
    pub actor_role: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub version: Option<i32>,
    pub content_sha256: Option<String>,
}

/// SHA-256 over the previous hash, a newline and the canonical JSON of the record.
pub fn chain_hash(prev_hash: &str, record: &AuditRecord) -> String {
    let body = serde_json::json!({
        "seq": record.seq,
        "at": record.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "actor_sub": record.actor_sub,
        "actor_role": record.actor_role,
        "action": record.action,
        "entity": record.entity,
        "entity_id": record.entity_id,
        "version": record.version,
        "content_sha256": record.content_sha256,
    });
    let mut input = String::with_capacity(prev_hash.len() + 256);
    input.push_str(prev_hash);
    input.push('\n');
    input.push_str(&canonical_json(&body));
    sha256_hex(input.as_bytes())
}

/// A stored event as verification reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Where verification got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// Events checked.
    pub events: u64,
    /// Hash of the last good event (or the genesis hash).
    pub head_hash: String,
    /// Sequence number of the last good event (0 before the first).
    pub head_seq: i64,
    /// The first event whose link or hash does not hold.
    pub first_broken_seq: Option<i64>,
}

/// The chain's head at a moment, kept outside the database (a file, an email to the
/// council's auditors) so that rewriting or truncating the chain is detectable even by
/// someone who can also rewrite the head row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    /// The last event's sequence number when the checkpoint was taken.
    pub seq: i64,
    /// That event's hash.
    pub hash: String,
    pub taken_at: DateTime<Utc>,
}

/// How the stored chain stands against a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointMatch {
    /// The event the checkpoint names is stored with the same hash.
    Matches,
    /// The chain is shorter than the checkpoint: events were removed.
    Missing,
    /// The event is stored with another hash: the chain was rewritten up to it.
    Differs,
}

impl CheckpointMatch {
    /// Compares the hash stored for the checkpoint's event (if any) with the checkpoint.
    pub fn of(checkpoint: &Checkpoint, stored_hash: Option<&str>) -> Self {
        match stored_hash {
            None => CheckpointMatch::Missing,
            Some(h) if h == checkpoint.hash => CheckpointMatch::Matches,
            Some(_) => CheckpointMatch::Differs,
        }
    }
}

/// Incremental verifier: feed events in `seq` order, in pages if need be.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    check: ChainCheck,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            check: ChainCheck {
                events: 0,
                head_hash: GENESIS_HASH.to_string(),
                head_seq: 0,
                first_broken_seq: None,
            },
        }
    }
}

impl ChainVerifier {
    /// Checks the next event; returns false once the chain is broken (stop feeding).
    pub fn feed(&mut self, event: &StoredEvent) -> bool {
        if self.check.first_broken_seq.is_some() {
            return false;
        }
        let linked =
            event.record.seq == self.check.head_seq + 1 && event.prev_hash == self.check.head_hash;
        if !linked || chain_hash(&event.prev_hash, &event.record) != event.hash {
            self.check.first_broken_seq = Some(event.record.seq.min(self.check.head_seq + 1));
            return false;
        }
        self.check.events += 1;
        self.check.head_seq = event.record.seq;
        self.check.head_hash.clone_from(&event.hash);
        true
    }

    pub fn finish(self) -> ChainCheck {
        self.check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let record = AuditRecord {
                    seq,
                    at: DateTime::from_timestamp(1_750_000_000 + seq, 123_456_000).unwrap(),
                    actor_sub: "alice".into(),
                    actor_role: "commissioner".into(),
                    action: "create".into(),
                    entity: "contract".into(),
                    entity_id: format!("c{seq}"),
                    version: None,
                    content_sha256: Some("ab".repeat(32)),
                };
                let hash = chain_hash(&prev, &record);
                let event = StoredEvent {
                    record,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                event
            })
            .collect()
    }

    fn verify(events: &[StoredEvent]) -> ChainCheck {
        let mut v = ChainVerifier::default();
        for e in events {
            if !v.feed(e) {
                break;
            }
        }
        v.finish()
    }

    #[test]
    fn intact_chain_verifies() {
        let events = chain(5);
        let check = verify(&events);
        assert_eq!(check.first_broken_seq, None);
        assert_eq!(check.events, 5);
        assert_eq!(check.head_hash, events[4].hash);
    }

    #[test]
    fn tampering_is_found_at_its_seq() {
        let mut events = chain(5);
        events[2].record.entity_id = "forged".into();
        assert_eq!(verify(&events).first_broken_seq, Some(3));

        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events).first_broken_seq, Some(2));

        let mut events = chain(5);
        events[3].record.at += chrono::Duration::microseconds(1);
        assert_eq!(verify(&events).first_broken_seq, Some(4));
    }
}
