//! The audit trail as a transparency log. A writing transaction records its events in
//! `audit_pending` and takes no lock on any shared row ([`append`]); the sequencer
//! (`log.rs`) gives them their places in the log, off the request path; `verify.rs`
//! checks the log, its signed checkpoints and the content its events describe.

mod log;
mod verify;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use dayops_domain::audit::{Actor, AuditRecord, NewEvent, StoredEvent};
use dayops_domain::tlog::Hash;

use crate::error::StoreError;
use crate::schema::{audit_events, audit_pending, audit_tree};
use crate::{now, utc, DbConnection, Page};

pub use log::{
    backlog, checkpoint_at, consistency, has_work, inclusion, latest_checkpoint, run_sequencer,
    sequence, sign_checkpoint, tree_size, InclusionProof, StoredCheckpoint, SEQUENCER_LOCK,
};
pub use verify::{verify, CheckpointMatch, TrailReport};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
#[diesel(treat_none_as_default_value = false)]
struct AuditRow {
    seq: i64,
    at: NaiveDateTime,
    actor_sub: String,
    actor_role: String,
    action: String,
    entity: String,
    entity_id: String,
    version: Option<i32>,
    content_sha256: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
    event_id: Option<String>,
    sequenced_at: Option<NaiveDateTime>,
}

impl AuditRow {
    fn record(&self) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            at: utc(self.at),
            actor_sub: self.actor_sub.clone(),
            actor_role: self.actor_role.clone(),
            action: self.action.clone(),
            entity: self.entity.clone(),
            entity_id: self.entity_id.clone(),
            version: self.version,
            content_sha256: self.content_sha256.clone(),
        }
    }

    fn into_stored(self) -> StoredEvent {
        StoredEvent {
            record: self.record(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// An event not yet sequenced, as its writing transaction recorded it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_pending)]
#[diesel(treat_none_as_default_value = false)]
struct PendingRow {
    event_id: String,
    at: NaiveDateTime,
    actor_sub: String,
    actor_role: String,
    action: String,
    entity: String,
    entity_id: String,
    version: Option<i32>,
    content_sha256: Option<String>,
}

/// Up to `limit` sequenced events after `seq`, in order: the pages the sequencer (events
/// from before the log) and verification read.
fn events_after(
    conn: &mut DbConnection,
    seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::seq.gt(seq))
        .order(audit_events::seq.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// Rows a multi-row insert may carry: 13 columns each, under SQLite's 32,766 parameters.
const INSERT_CHUNK: usize = 2_000;

/// A new event id: a UUIDv7, which sorts by time and is monotonic in a process, so the
/// sequencer takes a process's events in the order they were recorded.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Records `events` in the caller's transaction, for the sequencer. Takes no lock on any
/// shared row: concurrent writers, in this process or another, do not wait on each other
/// here. Returns the events' ids in order.
pub fn append(
    conn: &mut DbConnection,
    actor: &Actor,
    events: Vec<NewEvent>,
) -> Result<Vec<String>, StoreError> {
    let at = now().naive_utc();
    let rows: Vec<PendingRow> = events
        .into_iter()
        .map(|event| PendingRow {
            event_id: event.id.unwrap_or_else(new_event_id),
            at,
            actor_sub: actor.sub.clone(),
            actor_role: actor.role.as_str().to_string(),
            action: event.action.to_string(),
            entity: event.entity.to_string(),
            entity_id: event.entity_id,
            version: event.version,
            content_sha256: event.content_sha256,
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        crate::insert_rows!(conn, audit_pending::table, chunk)?;
    }
    Ok(rows.into_iter().map(|r| r.event_id).collect())
}

/// A stored change and the ids of the audit events that record it, for the answer to
/// name (`Audit-Event-Id`).
#[derive(Debug, Clone)]
pub struct Audited<T> {
    pub value: T,
    pub events: Vec<String>,
}

impl<T> Audited<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Audited<U> {
        Audited {
            value: f(self.value),
            events: self.events,
        }
    }
}

/// A sequenced event as listed: the event, its id, its leaf and when it was sequenced.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub event: StoredEvent,
    pub event_id: Option<String>,
    pub leaf_hash: Option<Hash>,
    pub sequenced_at: Option<DateTime<Utc>>,
}

/// Filters for the audit listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_sub: Option<String>,
    pub action: Option<String>,
    pub event_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Sequenced events in `seq` order after `after_seq`, with their leaves.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Page<LoggedEvent>, StoreError> {
    let leaf = audit_tree::table.on(audit_tree::level
        .eq(0)
        .and(audit_tree::idx.eq(audit_events::seq - 1)));
    let mut query = audit_events::table
        .left_join(leaf)
        .select((AuditRow::as_select(), audit_tree::hash.nullable()))
        .into_boxed();
    if let Some(entity) = &filter.entity {
        query = query.filter(audit_events::entity.eq(entity.clone()));
    }
    if let Some(entity_id) = &filter.entity_id {
        query = query.filter(audit_events::entity_id.eq(entity_id.clone()));
    }
    if let Some(actor) = &filter.actor_sub {
        query = query.filter(audit_events::actor_sub.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(event_id) = &filter.event_id {
        query = query.filter(audit_events::event_id.eq(event_id.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from.naive_utc()));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::at.lt(to.naive_utc()));
    }
    if let Some(after) = after_seq {
        query = query.filter(audit_events::seq.gt(after));
    }
    let rows: Vec<(AuditRow, Option<Vec<u8>>)> = query
        .order(audit_events::seq.asc())
        .limit(limit + 1)
        .load(conn)?;
    let events = rows
        .into_iter()
        .map(|(row, leaf)| LoggedEvent {
            event_id: row.event_id.clone(),
            sequenced_at: row.sequenced_at.map(utc),
            leaf_hash: leaf.and_then(|l| l.try_into().ok()),
            event: row.into_stored(),
        })
        .collect();
    Ok(Page::from_rows(events, limit, |e: &LoggedEvent| {
        e.event.record.seq.to_string()
    }))
}

/// The `seq` of the event with id `event_id`, once sequenced.
pub fn seq_of(conn: &mut DbConnection, event_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::event_id.eq(event_id))
        .select(audit_events::seq)
        .first(conn)
        .optional()?)
}

/// Whether an event with id `event_id` is recorded and still waits for the sequencer.
pub fn is_pending(conn: &mut DbConnection, event_id: &str) -> Result<bool, StoreError> {
    Ok(audit_pending::table
        .find(event_id)
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// The sequenced event at `seq`.
pub fn get(conn: &mut DbConnection, seq: i64) -> Result<Option<LoggedEvent>, StoreError> {
    let page = list(conn, &AuditFilter::default(), Some(seq - 1), 1)?;
    Ok(page.items.into_iter().find(|e| e.event.record.seq == seq))
}
