//! The audit trail. Events are leaves of a transparency log (RFC 9162, `tlog.rs`), each
//! leaf hashing the event's canonical record. Events from before the log were hash-chained
//! (each hash covering the previous one); they keep their chain and are the log's first
//! leaves. [`TrailVerifier`] checks both, streaming, in O(log n) memory.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::canonical::{canonical_json, sha256_hex};
use crate::tlog::{Frontier, Hash};

/// The hash the first event chains from.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made a change: the token's subject and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub sub: String,
    pub role: crate::types::Role,
}

/// An event about to be recorded; the sequencer later assigns its `seq` and leaf. `id`
/// names it before then (a receipt quotes it); one is made when it is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Option<String>,
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

impl AuditRecord {
    /// The canonical JSON both the chain and the log hash.
    pub fn canonical(&self) -> String {
        let record = self;
        canonical_json(&serde_json::json!({
        "seq": record.seq,
        "at": record.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "actor_sub": record.actor_sub,
        "actor_role": record.actor_role,
        "action": record.action,
        "entity": record.entity,
        "entity_id": record.entity_id,
        "version": record.version,
        "content_sha256": record.content_sha256,
        }))
    }

    /// The event's leaf in the log: RFC 9162's leaf hash of its canonical record.
    pub fn leaf_hash(&self) -> Hash {
        crate::tlog::leaf_hash(self.canonical().as_bytes())
    }
}

/// SHA-256 over the previous hash, a newline and the canonical JSON of the record.
pub fn chain_hash(prev_hash: &str, record: &AuditRecord) -> String {
    let mut input = String::with_capacity(prev_hash.len() + 256);
    input.push_str(prev_hash);
    input.push('\n');
    input.push_str(&record.canonical());
    sha256_hex(input.as_bytes())
}

/// A stored event as verification reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub record: AuditRecord,
    /// The chain hashes, for events from before the log.
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// What verification found: how far the trail holds, and the first thing that does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailCheck {
    /// Events that verified, from the first.
    pub events: u64,
    /// The log's head over those events (base64, as checkpoints write it).
    pub head_hash: String,
    /// The first event at or after which something does not hold.
    pub first_broken_seq: Option<i64>,
    /// What does not hold there, in words.
    pub broken: Option<String>,
}

/// Streams the trail in `seq` order: the chain of the events before the log, every
/// event's leaf against the stored one, and the subtrees and heads the leaves make.
#[derive(Debug, Clone)]
pub struct TrailVerifier {
    chain_head: String,
    chain_ended: bool,
    frontier: Frontier,
    broken: Option<(i64, String)>,
}

impl Default for TrailVerifier {
    fn default() -> Self {
        TrailVerifier {
            chain_head: GENESIS_HASH.to_string(),
            chain_ended: false,
            frontier: Frontier::new(),
            broken: None,
        }
    }
}

impl TrailVerifier {
    /// The `seq` the next event must have.
    pub fn next_seq(&self) -> i64 {
        self.size() as i64 + 1
    }

    /// Events verified so far (the log's size).
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The head of the log over the events verified so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Records the first break found (later ones are consequences).
    pub fn break_at(&mut self, seq: i64, what: impl Into<String>) {
        if self.broken.is_none() {
            self.broken = Some((seq, what.into()));
        }
    }

    /// Checks the next event against its stored leaf. Returns the subtrees its leaf
    /// completes (for the caller to compare with the stored ones), or `None` once broken.
    pub fn feed(
        &mut self,
        event: &StoredEvent,
        stored_leaf: Option<&Hash>,
    ) -> Option<Vec<(u32, u64, Hash)>> {
        if self.broken.is_some() {
            return None;
        }
        let seq = event.record.seq;
        let expected = self.next_seq();
        if seq != expected {
            self.break_at(expected, format!("event {expected} is missing"));
            return None;
        }
        match (&event.prev_hash, &event.hash) {
            (Some(prev), Some(hash)) if !self.chain_ended => {
                if *prev != self.chain_head || chain_hash(prev, &event.record) != *hash {
                    self.break_at(seq, format!("event {seq} does not match its chain hash"));
                    return None;
                }
                self.chain_head.clone_from(hash);
            }
            (None, None) => self.chain_ended = true,
            _ => {
                self.break_at(seq, format!("event {seq} has chain hashes it cannot have"));
                return None;
            }
        }
        let leaf = event.record.leaf_hash();
        match stored_leaf {
            None => {
                self.break_at(seq, format!("event {seq} has no leaf in the log"));
                return None;
            }
            Some(stored) if *stored != leaf => {
                self.break_at(
                    seq,
                    format!("event {seq} does not match its leaf in the log"),
                );
                return None;
            }
            Some(_) => {}
        }
        Some(self.frontier.push(leaf))
    }

    pub fn finish(self) -> TrailCheck {
        use base64::Engine;
        let (first_broken_seq, broken) = match self.broken {
            Some((seq, what)) => (Some(seq), Some(what)),
            None => (None, None),
        };
        TrailCheck {
            events: self.frontier.size(),
            head_hash: base64::engine::general_purpose::STANDARD.encode(self.frontier.root()),
            first_broken_seq,
            broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` events, the first `chained` of them hash-chained as before the log.
    fn trail(n: i64, chained: i64) -> Vec<StoredEvent> {
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
                if seq > chained {
                    return StoredEvent {
                        record,
                        prev_hash: None,
                        hash: None,
                    };
                }
                let hash = chain_hash(&prev, &record);
                let event = StoredEvent {
                    record,
                    prev_hash: Some(prev.clone()),
                    hash: Some(hash.clone()),
                };
                prev = hash;
                event
            })
            .collect()
    }

    fn leaves(events: &[StoredEvent]) -> Vec<Hash> {
        events.iter().map(|e| e.record.leaf_hash()).collect()
    }

    fn verify(events: &[StoredEvent], leaves: &[Hash]) -> TrailCheck {
        let mut v = TrailVerifier::default();
        for (i, e) in events.iter().enumerate() {
            if v.feed(e, leaves.get(i)).is_none() {
                break;
            }
        }
        v.finish()
    }

    #[test]
    fn an_intact_trail_verifies_to_the_logs_head() {
        let events = trail(7, 3);
        let leaves = leaves(&events);
        let check = verify(&events, &leaves);
        assert_eq!(check.first_broken_seq, None, "{:?}", check.broken);
        assert_eq!(check.events, 7);
        let mut tree = crate::tlog::MemoryTree::new();
        for leaf in &leaves {
            tree.push(*leaf);
        }
        use base64::Engine;
        let root = crate::tlog::root(&mut tree, 7).unwrap();
        assert_eq!(
            check.head_hash,
            base64::engine::general_purpose::STANDARD.encode(root)
        );
    }

    #[test]
    fn tampering_is_found_at_its_seq_and_named() {
        type Tamper = Box<dyn Fn(&mut Vec<StoredEvent>, &mut Vec<Hash>)>;
        let cases: Vec<(&str, Tamper, i64, &str)> = vec![
            (
                "a chained field",
                Box::new(|e, _| e[1].record.entity_id = "forged".into()),
                2,
                "chain hash",
            ),
            (
                "a logged field",
                Box::new(|e, _| e[4].record.actor_sub = "mallory".into()),
                5,
                "its leaf",
            ),
            (
                "a chain hash",
                Box::new(|e, _| e[2].hash = Some("00".repeat(32))),
                3,
                "chain hash",
            ),
            ("a leaf", Box::new(|_, l| l[5][0] ^= 1), 6, "its leaf"),
            (
                "a deletion",
                Box::new(|e, l| {
                    e.remove(3);
                    l.remove(3);
                }),
                4,
                "missing",
            ),
            (
                "a reordering",
                Box::new(|e, _| {
                    let (a, b) = (e[4].record.seq, e[5].record.seq);
                    e.swap(4, 5);
                    e[4].record.seq = a;
                    e[5].record.seq = b;
                }),
                5,
                "its leaf",
            ),
            (
                "a chain hash after the chain",
                Box::new(|e, _| e[6].prev_hash = Some("x".into())),
                7,
                "cannot have",
            ),
            (
                "a leaf never made",
                Box::new(|_, l| {
                    l.truncate(4);
                }),
                5,
                "no leaf",
            ),
        ];
        for (what, tamper, seq, named) in cases {
            let mut events = trail(8, 3);
            let mut leaves = leaves(&events);
            tamper(&mut events, &mut leaves);
            let check = verify(&events, &leaves);
            assert_eq!(check.first_broken_seq, Some(seq), "{what}");
            assert!(
                check.broken.as_deref().unwrap().contains(named),
                "{what}: {:?}",
                check.broken
            );
        }
    }
}
