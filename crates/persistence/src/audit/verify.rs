//! Verifying the log: every event against its leaf (and, before the log, its chain), every
//! stored subtree against the leaves, every signed checkpoint against the events and the
//! log's key, a checkpoint kept outside the database, and the content the events describe.

use std::collections::HashMap;

use diesel::prelude::*;

use dayops_domain::audit::{TrailCheck, TrailVerifier};
use dayops_domain::note::{Checkpoint, LogVerifier};
use dayops_domain::tlog::Hash;

use super::log::{all_checkpoints, tree_size};
use crate::error::StoreError;
use crate::schema::{audit_events, audit_pending, audit_tree};
use crate::DbConnection;

/// How the log stands against a checkpoint kept outside the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointMatch {
    /// The events give the checkpoint's head at its size.
    Matches,
    /// The log holds fewer events than the checkpoint: events were removed.
    Missing,
    /// The events give another head at that size: the log was rewritten.
    Differs,
}

/// What verification found.
#[derive(Debug, Clone)]
pub struct TrailReport {
    pub check: TrailCheck,
    /// Leaves the stored tree holds.
    pub tree_size: u64,
    /// Events recorded and not yet sequenced.
    pub pending: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// Against the checkpoint given, if one was.
    pub checkpoint: Option<CheckpointMatch>,
}

impl TrailReport {
    pub fn verified(&self) -> bool {
        self.check.first_broken_seq.is_none()
            && self
                .checkpoint
                .is_none_or(|c| c == CheckpointMatch::Matches)
    }
}

const PAGE: i64 = 5_000;

fn stored_nodes(
    conn: &mut DbConnection,
    level: u32,
    from: u64,
    to: u64,
) -> Result<HashMap<u64, Vec<u8>>, StoreError> {
    let rows: Vec<(i64, Vec<u8>)> = audit_tree::table
        .filter(audit_tree::level.eq(level as i32))
        .filter(audit_tree::idx.between(from as i64, to as i64))
        .select((audit_tree::idx, audit_tree::hash))
        .load(conn)?;
    Ok(rows.into_iter().map(|(i, h)| (i as u64, h)).collect())
}

/// Verifies the whole log from the first event, in pages: see the module's summary.
/// `key` checks each stored checkpoint's signature; `kept` is a checkpoint kept outside
/// the database (already opened with the log's key).
pub fn verify(
    conn: &mut DbConnection,
    key: Option<&LogVerifier>,
    kept: Option<&Checkpoint>,
) -> Result<TrailReport, StoreError> {
    let checkpoints = all_checkpoints(conn)?;
    let mut verifier = TrailVerifier::default();
    // Heads to check as the stream passes their size: each signed checkpoint's, and the
    // kept one's.
    let mut heads: Vec<(u64, Hash, String)> = Vec::new();
    for c in &checkpoints {
        let signed = match key.map(|k| k.open(&c.note)) {
            None => true,
            Some(Ok(opened)) => opened.size == c.tree_size && opened.root == c.root_hash,
            Some(Err(_)) => false,
        };
        if !signed {
            verifier.break_at(
                c.tree_size as i64,
                format!(
                    "the checkpoint at size {} is not signed by the log's key",
                    c.tree_size
                ),
            );
        }
        heads.push((
            c.tree_size,
            c.root_hash,
            format!("the signed checkpoint at size {}", c.tree_size),
        ));
    }
    let mut kept_match = None;
    if let Some(k) = kept {
        heads.push((
            k.size,
            k.root,
            format!("the kept checkpoint at size {}", k.size),
        ));
    }
    heads.sort_by_key(|h| h.0);
    // A head of the empty log is its own: nothing to stream for it.
    let mut next_head = 0;
    while next_head < heads.len() && heads[next_head].0 == 0 {
        let matches = heads[next_head].1 == dayops_domain::tlog::empty_root();
        if kept.is_some_and(|k| k.size == 0) {
            kept_match = Some(if matches {
                CheckpointMatch::Matches
            } else {
                CheckpointMatch::Differs
            });
        }
        next_head += 1;
    }

    let mut after = 0i64;
    'pages: loop {
        let rows = super::events_after(conn, after, PAGE)?;
        let Some(last) = rows.last() else { break };
        let (first_seq, last_seq) = (rows[0].seq, last.seq);
        after = last_seq;
        let leaves = stored_nodes(
            conn,
            0,
            (first_seq - 1).max(0) as u64,
            (last_seq - 1) as u64,
        )?;
        let mut closed = Vec::new();
        for row in rows {
            let seq = row.seq;
            let leaf: Option<Hash> = leaves
                .get(&((seq - 1).max(0) as u64))
                .and_then(|h| h.clone().try_into().ok());
            let Some(nodes) = verifier.feed(&row.into_stored(), leaf.as_ref()) else {
                break 'pages;
            };
            closed.extend(nodes.into_iter().filter(|n| n.0 > 0).map(|n| (seq, n)));
            while next_head < heads.len() && heads[next_head].0 <= verifier.size() {
                let (size, root, what) = &heads[next_head];
                if *size == verifier.size() && *root != verifier.root() {
                    verifier.break_at(seq, format!("{what} does not match the events"));
                    if kept.is_some_and(|k| k.size == *size) {
                        kept_match = Some(CheckpointMatch::Differs);
                    }
                } else if kept.is_some_and(|k| k.size == *size) && kept_match.is_none() {
                    kept_match = Some(CheckpointMatch::Matches);
                }
                next_head += 1;
            }
        }
        // The subtrees these leaves completed, against the stored ones, a level at a time.
        let mut by_level: HashMap<u32, Vec<(i64, u64, Hash)>> = HashMap::new();
        for (seq, (level, index, hash)) in closed {
            by_level.entry(level).or_default().push((seq, index, hash));
        }
        let mut levels: Vec<_> = by_level.into_iter().collect();
        levels.sort_by_key(|l| l.0);
        let mut first_bad: Option<(i64, String)> = None;
        for (level, nodes) in levels {
            let (lo, hi) = (nodes[0].1, nodes[nodes.len() - 1].1);
            let stored = stored_nodes(conn, level, lo, hi)?;
            for (seq, index, hash) in nodes {
                if stored.get(&index).map(Vec::as_slice) != Some(&hash[..])
                    && first_bad.as_ref().is_none_or(|b| seq < b.0)
                {
                    first_bad = Some((
                        seq,
                        format!("the log's subtree at level {level}, index {index} does not match its leaves"),
                    ));
                }
            }
        }
        if let Some((seq, what)) = first_bad {
            verifier.break_at(seq, what);
            break;
        }
        if verifier.is_broken() {
            break;
        }
    }

    let stored_size = tree_size(conn)?;
    let events = verifier.size();
    if !verifier.is_broken() {
        if stored_size > events {
            verifier.break_at(
                events as i64 + 1,
                format!(
                    "the log has {stored_size} leaves but {events} events: events were removed"
                ),
            );
        } else if let Some(c) = checkpoints.iter().find(|c| c.tree_size > events) {
            verifier.break_at(
                events as i64 + 1,
                format!(
                    "the signed checkpoint at size {} covers more than the {events} events: events were removed",
                    c.tree_size
                ),
            );
        }
    }
    if let Some(k) = kept {
        if k.size > events && kept_match.is_none() {
            kept_match = Some(CheckpointMatch::Missing);
            verifier.break_at(
                events as i64 + 1,
                format!("the kept checkpoint at size {} covers more than the {events} events: events were removed", k.size),
            );
        }
    }
    if !verifier.is_broken() {
        if let Some((seq, what)) = verify_content(conn)? {
            verifier.break_at(seq.min(events as i64 + 1), what);
        }
    }
    let pending: i64 = audit_pending::table.count().get_result(conn)?;
    Ok(TrailReport {
        check: verifier.finish(),
        tree_size: stored_size,
        pending: pending as u64,
        checkpoints: checkpoints.len() as u64,
        checkpoint: kept_match,
    })
}

/// The newest event of each `(entity_id, version, action)` among `ids`: its seq and hash.
type EventIndex = HashMap<(String, Option<i32>, String), (i64, Option<String>)>;

fn events_of(conn: &mut DbConnection, ids: &[String]) -> Result<EventIndex, StoreError> {
    let mut index = EventIndex::new();
    for chunk in ids.chunks(500) {
        type EventRow = (i64, String, Option<i32>, String, Option<String>);
        let rows: Vec<EventRow> = audit_events::table
            .filter(audit_events::entity_id.eq_any(chunk))
            .select((
                audit_events::seq,
                audit_events::entity_id,
                audit_events::version,
                audit_events::action,
                audit_events::content_sha256,
            ))
            .order(audit_events::seq.asc())
            .load(conn)?;
        for (seq, id, version, action, hash) in rows {
            index.insert((id, version, action), (seq, hash));
        }
    }
    Ok(index)
}

/// Whether an event about `id` still waits for the sequencer (its absence from the log
/// is then not a break).
fn pending_about(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    let n: i64 = audit_pending::table
        .filter(audit_pending::entity_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether the log now holds the create or amend event of `id`'s `version`.
fn recorded_since(conn: &mut DbConnection, id: &str, version: i32) -> Result<bool, StoreError> {
    let n: i64 = audit_events::table
        .filter(audit_events::entity_id.eq(id))
        .filter(audit_events::version.eq(version))
        .filter(audit_events::action.eq_any(["create", "amend"]))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Recomputes the content the events describe: each stored version's body, validation
/// report and derived rows (priced claim lines and totals, KPI results), and each claim's
/// decision and payment. Returns the first that no longer matches its event, as the event's
/// seq and what is wrong.
pub fn verify_content(conn: &mut DbConnection) -> Result<Option<(i64, String)>, StoreError> {
    use crate::claims::{decision_sha256, payment_sha256, priced_sha256};
    use crate::pipeline::Kind;
    use crate::schema::{claim_states, submission_versions, submissions};
    use dayops_domain::canonical::{content_sha256, sha256_hex};
    use dayops_domain::submission::SubmissionKind;

    let mut first: Option<(i64, String)> = None;
    let mut note = |seq: i64, what: String| {
        if first.as_ref().is_none_or(|f| seq < f.0) {
            first = Some((seq, what));
        }
    };
    let mut after: (String, i32) = (String::new(), 0);
    loop {
        type VersionRow = (String, i32, String, String, String, String);
        let rows: Vec<VersionRow> = submission_versions::table
            .inner_join(submissions::table)
            .filter(
                submission_versions::submission_id.gt(&after.0).or(
                    submission_versions::submission_id
                        .eq(&after.0)
                        .and(submission_versions::version.gt(after.1)),
                ),
            )
            .order((
                submission_versions::submission_id.asc(),
                submission_versions::version.asc(),
            ))
            .limit(1_000)
            .select((
                submission_versions::submission_id,
                submission_versions::version,
                submissions::kind,
                submission_versions::body,
                submission_versions::content_sha256,
                submission_versions::findings,
            ))
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after = (last.0.clone(), last.1);
        let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let events = events_of(conn, &ids)?;
        for (id, version, kind, body, stored_hash, findings) in rows {
            let v = Some(version);
            let event = |action: &str| events.get(&(id.clone(), v, action.to_string()));
            let Some((seq, recorded)) = event("create").or_else(|| event("amend")) else {
                // Sequenced since the index was read, or still waiting: not a break.
                if !pending_about(conn, &id)? && !recorded_since(conn, &id, version)? {
                    note(
                        i64::MAX,
                        format!("{kind} {id} version {version} has no audit event"),
                    );
                }
                continue;
            };
            let what = format!("{kind} {id} version {version}");
            if sha256_hex(body.as_bytes()) != stored_hash || recorded.as_ref() != Some(&stored_hash)
            {
                note(
                    *seq,
                    format!("{what}: its stored body does not match its audit event"),
                );
            }
            if let Some((seq, recorded)) = event("validate") {
                let report: serde_json::Value = serde_json::from_str(&findings).map_err(|e| {
                    StoreError::Corrupt(format!("submission_versions.findings: {e}"))
                })?;
                if recorded.as_deref() != Some(content_sha256(&report).as_str()) {
                    note(
                        *seq,
                        format!(
                            "{what}: its stored validation report does not match its audit event"
                        ),
                    );
                }
            }
            let derived = match SubmissionKind::parse(&kind) {
                Some(SubmissionKind::Claim) => Some(("price", priced_sha256(conn, &id, version)?)),
                Some(SubmissionKind::Workbook) => Some((
                    "kpi",
                    crate::workbooks::Workbooks::derived_sha256(conn, &id, version)?,
                )),
                _ => None,
            };
            // Versions stored before their kind's derived rows were logged have no such event.
            if let Some((action, hash)) = derived {
                if let Some((seq, recorded)) = event(action) {
                    if *recorded != hash {
                        note(
                            *seq,
                            format!(
                                "{what}: its stored {action} rows do not match its audit event"
                            ),
                        );
                    }
                }
            }
        }
    }

    type StateRow = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<chrono::NaiveDate>,
    );
    let states: Vec<StateRow> = claim_states::table
        .select((
            claim_states::submission_id,
            claim_states::decision,
            claim_states::decision_reason,
            claim_states::remittance_ref,
            claim_states::paid_on,
        ))
        .load(conn)?;
    for chunk in states.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|s| s.0.clone()).collect();
        let events = events_of(conn, &ids)?;
        let newest = |id: &str, actions: &[&str]| {
            events
                .iter()
                .filter(|((e, _, a), _)| e == id && actions.contains(&a.as_str()))
                .map(|(_, (seq, hash))| (*seq, hash.clone()))
                .max_by_key(|(seq, _)| *seq)
        };
        for (id, decision, reason, remittance, paid_on) in chunk {
            if let (Some(decision), Some(reason)) = (decision, reason) {
                if let Some((seq, hash)) = newest(id, &["approve", "decline"]) {
                    if hash.as_deref() != Some(decision_sha256(decision, reason).as_str()) {
                        note(
                            seq,
                            format!(
                                "claim {id}: its stored decision does not match its audit event"
                            ),
                        );
                    }
                }
            }
            if let (Some(remittance), Some(paid_on)) = (remittance, paid_on) {
                if let Some((seq, hash)) = newest(id, &["pay"]) {
                    if hash.as_deref() != Some(payment_sha256(remittance, *paid_on).as_str()) {
                        note(
                            seq,
                            format!(
                                "claim {id}: its stored payment does not match its audit event"
                            ),
                        );
                    }
                }
            }
        }
    }
    Ok(first)
}
