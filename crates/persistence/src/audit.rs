//! Appending to and reading the hash-chained audit trail.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use dayops_domain::audit::{
    chain_hash, Actor, AuditRecord, ChainCheck, ChainVerifier, Checkpoint, CheckpointMatch,
    NewEvent, StoredEvent, GENESIS_HASH,
};

use crate::error::StoreError;
use crate::schema::{audit_events, audit_head};
use crate::{now, utc, DbConnection, Page};

#[derive(Debug, Clone, Queryable, Insertable)]
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
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    fn into_stored(self) -> StoredEvent {
        StoredEvent {
            record: AuditRecord {
                seq: self.seq,
                at: utc(self.at),
                actor_sub: self.actor_sub,
                actor_role: self.actor_role,
                action: self.action,
                entity: self.entity,
                entity_id: self.entity_id,
                version: self.version,
                content_sha256: self.content_sha256,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Rows a multi-row insert may carry: 11 columns each, under SQLite's 32,766 parameters.
const INSERT_CHUNK: usize = 2_000;

/// Appends `events` to the chain inside the caller's transaction.
///
/// The chain head row is locked first (an UPDATE takes a row lock on PostgreSQL; SQLite's
/// immediate transaction already holds the write lock), so concurrent writers, in this
/// process or another, append one after the other and every `prev_hash` is the true
/// previous hash.
pub fn append(
    conn: &mut DbConnection,
    actor: &Actor,
    events: Vec<NewEvent>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    diesel::update(audit_head::table.find(1))
        .set(audit_head::seq.eq(audit_head::seq))
        .execute(conn)?;
    let (mut seq, mut prev_hash): (i64, String) = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first(conn)?;
    let at = now();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let record = AuditRecord {
            seq,
            at,
            actor_sub: actor.sub.clone(),
            actor_role: actor.role.as_str().to_string(),
            action: event.action.to_string(),
            entity: event.entity.to_string(),
            entity_id: event.entity_id,
            version: event.version,
            content_sha256: event.content_sha256,
        };
        let hash = chain_hash(&prev_hash, &record);
        rows.push(AuditRow {
            seq,
            at: at.naive_utc(),
            actor_sub: record.actor_sub,
            actor_role: record.actor_role,
            action: record.action,
            entity: record.entity,
            entity_id: record.entity_id,
            version: record.version,
            content_sha256: record.content_sha256,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        });
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        crate::insert_rows!(conn, audit_events::table, chunk)?;
    }
    diesel::update(audit_head::table.find(1))
        .set((audit_head::seq.eq(seq), audit_head::hash.eq(&prev_hash)))
        .execute(conn)?;
    Ok(())
}

/// Filters for the audit listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_sub: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Events in `seq` order after `after_seq`.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Page<StoredEvent>, StoreError> {
    let mut query = audit_events::table.into_boxed();
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
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from.naive_utc()));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::at.lt(to.naive_utc()));
    }
    if let Some(after) = after_seq {
        query = query.filter(audit_events::seq.gt(after));
    }
    let rows: Vec<AuditRow> = query
        .order(audit_events::seq.asc())
        .limit(limit + 1)
        .load(conn)?;
    let events = rows.into_iter().map(AuditRow::into_stored).collect();
    Ok(Page::from_rows(events, limit, |e: &StoredEvent| {
        e.record.seq.to_string()
    }))
}

/// Recomputes the whole chain from the first event, in pages, and says where it breaks.
/// A chain whose stored head does not match its last event (rows removed from the end)
/// is broken just after the last good event.
pub fn verify(conn: &mut DbConnection) -> Result<ChainCheck, StoreError> {
    const PAGE: i64 = 5_000;
    let mut verifier = ChainVerifier::default();
    let mut after = 0i64;
    loop {
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::seq.gt(after))
            .order(audit_events::seq.asc())
            .limit(PAGE)
            .load(conn)?;
        let fetched = rows.len();
        for row in rows {
            after = row.seq;
            if !verifier.feed(&row.into_stored()) {
                return Ok(verifier.finish());
            }
        }
        if fetched < usize::try_from(PAGE).unwrap_or(usize::MAX) {
            break;
        }
    }
    let mut check = verifier.finish();
    let (head_seq, head_hash): (i64, String) = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first(conn)?;
    if head_seq != check.head_seq || head_hash != check.head_hash {
        check.first_broken_seq = Some(check.head_seq + 1);
    }
    Ok(check)
}

/// The head of the chain as a checkpoint to keep elsewhere.
pub fn checkpoint(conn: &mut DbConnection) -> Result<Checkpoint, StoreError> {
    let (seq, hash): (i64, String) = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .first(conn)?;
    Ok(Checkpoint {
        seq,
        hash,
        taken_at: crate::now(),
    })
}

/// Whether the stored chain still holds the event a checkpoint names, with its hash. A
/// checkpoint at seq 0 (an empty chain) holds while the chain starts from genesis.
pub fn compare_checkpoint(
    conn: &mut DbConnection,
    checkpoint: &Checkpoint,
) -> Result<CheckpointMatch, StoreError> {
    if checkpoint.seq == 0 {
        return Ok(CheckpointMatch::of(checkpoint, Some(GENESIS_HASH)));
    }
    let stored: Option<String> = audit_events::table
        .find(checkpoint.seq)
        .select(audit_events::hash)
        .first(conn)
        .optional()?;
    Ok(CheckpointMatch::of(checkpoint, stored.as_deref()))
}
