//! The log's sequencer, its stored tree, its signed checkpoints and its proofs.
//!
//! One sequencer at a time moves pending events into the log: on PostgreSQL the serve
//! process holding the session advisory lock [`LEADER_LOCK`] (another takes over when it
//! dies), on SQLite the single process. Each batch, and an on-demand checkpoint from any
//! process, takes [`SEQUENCER_LOCK`] for its transaction, and the log's primary keys refuse
//! a second writer of the same position, so two sequencers can never fork the log.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use dayops_domain::note::{Checkpoint, LogSigner};
use dayops_domain::tlog::{self, Hash, Nodes};

use super::{AuditRow, PendingRow, INSERT_CHUNK};
use crate::error::StoreError;
use crate::schema::{audit_checkpoints, audit_events, audit_pending, audit_tree};
use crate::{now, utc, write_transaction, DbConnection};

/// The advisory lock key of the log's sequencer ("dayops-log" in ASCII, as an i64).
pub const SEQUENCER_LOCK: i64 = 0x6461_796f_7073_6c67;

/// Orders this transaction's writes to the log after any other sequencer's (PostgreSQL;
/// SQLite's immediate transaction already holds its one write lock).
fn lock_sequencing(conn: &mut DbConnection) -> Result<(), StoreError> {
    if let DbConnection::Postgresql(_) = conn {
        crate::execute_sql!(
            conn,
            "SELECT pg_advisory_xact_lock($1)",
            [(diesel::sql_types::BigInt, SEQUENCER_LOCK)]
        )?;
    }
    Ok(())
}

/// The stored tree, read a node at a time (a head or proof reads O(log n) of them).
pub(super) struct StoredNodes<'c> {
    pub conn: &'c mut DbConnection,
    /// Nodes written in this batch and not yet read back from the database.
    pub fresh: HashMap<(u32, u64), Hash>,
}

impl<'c> StoredNodes<'c> {
    pub fn new(conn: &'c mut DbConnection) -> Self {
        StoredNodes {
            conn,
            fresh: HashMap::new(),
        }
    }
}

fn to_hash(column: &str, bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{column}: not a 32-byte hash")))
}

fn idx(index: u64) -> Result<i64, StoreError> {
    i64::try_from(index).map_err(|_| StoreError::Corrupt("a tree index beyond i64".into()))
}

impl Nodes for StoredNodes<'_> {
    type Error = StoreError;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        if let Some(hash) = self.fresh.get(&(level, index)) {
            return Ok(*hash);
        }
        let level_i = i32::try_from(level).unwrap_or(i32::MAX);
        let bytes: Option<Vec<u8>> = audit_tree::table
            .find((level_i, idx(index)?))
            .select(audit_tree::hash)
            .first(self.conn)
            .optional()?;
        let bytes = bytes.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "audit_tree: no node at level {level}, index {index}"
            ))
        })?;
        to_hash("audit_tree.hash", bytes)
    }
}

/// How many events the log holds (its leaves).
pub fn tree_size(conn: &mut DbConnection) -> Result<u64, StoreError> {
    let last: Option<i64> = audit_tree::table
        .filter(audit_tree::level.eq(0))
        .select(diesel::dsl::max(audit_tree::idx))
        .first(conn)?;
    Ok(last.map_or(0, |i| i as u64 + 1))
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_tree)]
struct NodeRow {
    level: i32,
    idx: i64,
    hash: Vec<u8>,
}

/// Moves up to `limit` events into the log in one write transaction: first any events
/// recorded before the log began (they become its first leaves, in their order), then
/// pending events in the order they were recorded. Each gets the next `seq`, its leaf, and
/// the subtrees its leaf completes. Returns how many were sequenced.
pub fn sequence(conn: &mut DbConnection, limit: i64) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        lock_sequencing(conn)?;
        let size = tree_size(conn)?;
        let size_i = idx(size)?;
        // Events stored before the log (the chain) that have no leaf yet.
        let chained = super::events_after(conn, size_i, limit)?;
        let mut leaves = Vec::with_capacity(chained.len());
        for row in &chained {
            if row.seq != size_i + 1 + leaves.len() as i64 {
                return Err(StoreError::Corrupt(format!(
                    "audit_events: event {} is missing before the log",
                    size_i + 1 + leaves.len() as i64
                )));
            }
            leaves.push(row.record().leaf_hash());
        }
        let room = limit - chained.len() as i64;
        let pending: Vec<PendingRow> = if room > 0 {
            audit_pending::table
                .order(audit_pending::event_id.asc())
                .limit(room)
                .select(PendingRow::as_select())
                .load(conn)?
        } else {
            Vec::new()
        };
        let sequenced_at = now().naive_utc();
        let mut events = Vec::with_capacity(pending.len());
        for row in &pending {
            let seq = size_i + 1 + leaves.len() as i64;
            let event = AuditRow {
                seq,
                at: row.at,
                actor_sub: row.actor_sub.clone(),
                actor_role: row.actor_role.clone(),
                action: row.action.clone(),
                entity: row.entity.clone(),
                entity_id: row.entity_id.clone(),
                version: row.version,
                content_sha256: row.content_sha256.clone(),
                prev_hash: None,
                hash: None,
                event_id: Some(row.event_id.clone()),
                sequenced_at: Some(sequenced_at),
            };
            leaves.push(event.record().leaf_hash());
            events.push(event);
        }
        if leaves.is_empty() {
            return Ok(0);
        }
        let mut nodes = Vec::with_capacity(leaves.len() * 2);
        {
            let mut stored = StoredNodes::new(conn);
            for (i, leaf) in leaves.iter().enumerate() {
                let index = size + i as u64;
                let closed =
                    tlog::nodes_closed_by(index, *leaf, |level, left| stored.node(level, left))?;
                for (level, index, hash) in closed {
                    stored.fresh.insert((level, index), hash);
                    nodes.push(NodeRow {
                        level: i32::try_from(level).unwrap_or(i32::MAX),
                        idx: idx(index)?,
                        hash: hash.to_vec(),
                    });
                }
            }
        }
        for chunk in events.chunks(INSERT_CHUNK) {
            crate::insert_rows!(conn, audit_events::table, chunk)?;
        }
        for chunk in nodes.chunks(INSERT_CHUNK * 4) {
            crate::insert_rows!(conn, audit_tree::table, chunk)?;
        }
        let ids: Vec<&str> = pending.iter().map(|p| p.event_id.as_str()).collect();
        // The feed's notices of these events take the events' places.
        crate::feed::place(conn, &ids)?;
        for chunk in ids.chunks(INSERT_CHUNK) {
            diesel::delete(audit_pending::table.filter(audit_pending::event_id.eq_any(chunk)))
                .execute(conn)?;
        }
        Ok(leaves.len())
    })
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    /// The C2SP signed note, exactly as signed.
    pub note: String,
    pub signed_at: DateTime<Utc>,
}

type CheckpointRow = (i64, Vec<u8>, String, NaiveDateTime);

fn stored_checkpoint(row: CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        tree_size: row.0 as u64,
        root_hash: to_hash("audit_checkpoints.root_hash", row.1)?,
        note: row.2,
        signed_at: utc(row.3),
    })
}

/// The newest signed checkpoint, if any.
pub fn latest_checkpoint(conn: &mut DbConnection) -> Result<Option<StoredCheckpoint>, StoreError> {
    audit_checkpoints::table
        .order(audit_checkpoints::tree_size.desc())
        .first::<CheckpointRow>(conn)
        .optional()?
        .map(stored_checkpoint)
        .transpose()
}

/// The signed checkpoint at `tree_size`, if one was signed at that size.
pub fn checkpoint_at(
    conn: &mut DbConnection,
    tree_size: u64,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    audit_checkpoints::table
        .find(idx(tree_size)?)
        .first::<CheckpointRow>(conn)
        .optional()?
        .map(stored_checkpoint)
        .transpose()
}

/// Every signed checkpoint, oldest first (for verification).
pub(super) fn all_checkpoints(
    conn: &mut DbConnection,
) -> Result<Vec<StoredCheckpoint>, StoreError> {
    audit_checkpoints::table
        .order(audit_checkpoints::tree_size.asc())
        .load::<CheckpointRow>(conn)?
        .into_iter()
        .map(stored_checkpoint)
        .collect()
}

/// Signs a checkpoint of the log as it stands, unless the newest already covers it.
/// Returns the newest checkpoint either way (`None` for an empty log never signed).
pub fn sign_checkpoint(
    conn: &mut DbConnection,
    signer: &LogSigner,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    write_transaction(conn, |conn| {
        lock_sequencing(conn)?;
        let size = tree_size(conn)?;
        let latest = latest_checkpoint(conn)?;
        if size == 0 || latest.as_ref().is_some_and(|c| c.tree_size >= size) {
            return Ok(latest);
        }
        // A log never signs a tree that does not extend what it signed before (C2SP
        // tlog-checkpoint): the stored tree must still give the last signed head, as that
        // checkpoint's own signed note says it.
        if let Some(last) = &latest {
            // A note signed with an earlier key (rotated since) is held to its stored root.
            let expected = match signer.verifier().open(&last.note) {
                Ok(signed) if signed.size == last.tree_size => signed.root,
                Ok(_) => [0; 32],
                Err(_) => last.root_hash,
            };
            let now_then = tlog::root(&mut StoredNodes::new(conn), last.tree_size)?;
            if expected != now_then {
                return Err(StoreError::conflict(
                    format!(
                        "the log no longer extends its checkpoint at size {}: it was rewritten, and no new checkpoint is signed",
                        last.tree_size
                    ),
                    "",
                    "run dayops audit verify",
                ));
            }
        }
        let root = tlog::root(&mut StoredNodes::new(conn), size)?;
        let note = signer.sign(&Checkpoint {
            origin: signer.name().to_string(),
            size,
            root,
        });
        let signed_at = now();
        diesel::insert_into(audit_checkpoints::table)
            .values((
                audit_checkpoints::tree_size.eq(idx(size)?),
                audit_checkpoints::root_hash.eq(root.to_vec()),
                audit_checkpoints::note.eq(&note),
                audit_checkpoints::signed_at.eq(signed_at.naive_utc()),
            ))
            .execute(conn)?;
        Ok(Some(StoredCheckpoint {
            tree_size: size,
            root_hash: root,
            note,
            signed_at,
        }))
    })
}

/// An event's inclusion proof in the tree of `tree_size` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub root_hash: Hash,
    pub hashes: Vec<Hash>,
}

/// The inclusion proof of the event at `seq` in the tree of `tree_size` leaves; `None`
/// when the event is not in a tree of that size (or the log is smaller).
pub fn inclusion(
    conn: &mut DbConnection,
    seq: i64,
    tree_size: u64,
) -> Result<Option<InclusionProof>, StoreError> {
    let Ok(index) = u64::try_from(seq - 1) else {
        return Ok(None);
    };
    if index >= tree_size || tree_size > self::tree_size(conn)? {
        return Ok(None);
    }
    let mut nodes = StoredNodes::new(conn);
    Ok(Some(InclusionProof {
        leaf_index: index,
        tree_size,
        leaf_hash: nodes.node(0, index)?,
        root_hash: tlog::root(&mut nodes, tree_size)?,
        hashes: tlog::inclusion_proof(&mut nodes, index, tree_size)?,
    }))
}

/// The consistency proof from the tree of `from` leaves to the tree of `to`, with both
/// heads; `None` unless `from` ≤ `to` ≤ the log's size.
pub fn consistency(
    conn: &mut DbConnection,
    from: u64,
    to: u64,
) -> Result<Option<(Hash, Hash, Vec<Hash>)>, StoreError> {
    if from > to || to > tree_size(conn)? {
        return Ok(None);
    }
    let mut nodes = StoredNodes::new(conn);
    Ok(Some((
        tlog::root(&mut nodes, from)?,
        tlog::root(&mut nodes, to)?,
        tlog::consistency_proof(&mut nodes, from, to)?,
    )))
}

/// Events waiting for the sequencer, and when the oldest of them was recorded: its lag.
pub fn backlog(conn: &mut DbConnection) -> Result<(i64, Option<NaiveDateTime>), StoreError> {
    Ok(audit_pending::table
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(audit_pending::at),
        ))
        .first(conn)?)
}

/// Whether there is anything to sequence: pending events, or events from before the log
/// that have no leaf yet. A plain read, so an idle sequencer never takes the write lock.
pub fn has_work(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let pending: Option<String> = audit_pending::table
        .select(audit_pending::event_id)
        .first(conn)
        .optional()?;
    if pending.is_some() {
        return Ok(true);
    }
    let last: Option<i64> = audit_events::table
        .select(diesel::dsl::max(audit_events::seq))
        .first(conn)?;
    Ok(last.unwrap_or(0) as u64 > tree_size(conn)?)
}

/// The advisory lock the leading sequencer holds for its session: distinct from
/// [`SEQUENCER_LOCK`], which each batch takes for its transaction, so that an on-demand
/// checkpoint in another process waits for one batch, not for the leader's lifetime.
pub const LEADER_LOCK: i64 = SEQUENCER_LOCK + 1;

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Events sequenced in one transaction at most.
const BATCH: i64 = 5_000;
/// How long an idle sequencer waits before looking again.
const IDLE: std::time::Duration = std::time::Duration::from_millis(25);

/// Runs the log's sequencer while `alive()`: sequences events as they are recorded and
/// signs a checkpoint at least every `interval` while there are new events.
///
/// On PostgreSQL only the process whose connection holds [`LEADER_LOCK`] sequences; the
/// others try again every second, so one takes over when the leader's process dies (its
/// session ends and PostgreSQL releases the lock). On SQLite the one process sequences.
pub fn run_sequencer(
    pool: &crate::Pool,
    signer: &LogSigner,
    interval: std::time::Duration,
    alive: impl Fn() -> bool,
) {
    use std::time::Instant;
    let mut leader: Option<crate::PooledConnection> = None;
    // Never signed by this process yet: the first checkpoint is due at once.
    let mut last_signed: Option<Instant> = None;
    let mut signed_size: Option<u64> = None;
    while alive() {
        let conn = match leader.as_mut() {
            Some(conn) => conn,
            None => match lead(pool) {
                Ok(Some(conn)) => leader.insert(conn),
                Ok(None) => {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
                Err(e) => {
                    log::error!("audit log sequencer cannot connect: {e}");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
            },
        };
        let step = (|| -> Result<bool, StoreError> {
            if has_work(conn)? {
                sequence(conn, BATCH)?;
                return Ok(true);
            }
            let signed = match signed_size {
                Some(size) => size,
                None => *signed_size.insert(latest_checkpoint(conn)?.map_or(0, |c| c.tree_size)),
            };
            let due = last_signed.is_none_or(|t| t.elapsed() >= interval);
            if due && tree_size(conn)? > signed {
                let latest = sign_checkpoint(conn, signer)?;
                signed_size = Some(latest.map_or(0, |c| c.tree_size));
                last_signed = Some(Instant::now());
            }
            Ok(false)
        })();
        match step {
            Ok(true) => {}
            Ok(false) => std::thread::sleep(IDLE),
            Err(e) => {
                log::error!("audit log sequencer: {e}");
                // Give up the lead (a broken connection has lost it anyway) and start over.
                if let Some(conn) = leader.take() {
                    release(conn);
                }
                signed_size = None;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    }
    if let Some(conn) = leader {
        release(conn);
    }
}

/// Gives up the lead before the connection goes back to the pool.
fn release(mut conn: crate::PooledConnection) {
    if let DbConnection::Postgresql(_) = &mut *conn {
        let _ = crate::execute_sql!(&mut *conn, "SELECT pg_advisory_unlock_all()", []);
    }
}

/// A connection that leads the sequencing: on PostgreSQL one holding [`LEADER_LOCK`]
/// (`None` while another process holds it); on SQLite any.
fn lead(pool: &crate::Pool) -> Result<Option<crate::PooledConnection>, StoreError> {
    let mut conn = pool.get()?;
    if let DbConnection::Postgresql(_) = &mut *conn {
        let locked = crate::load_sql!(
            &mut *conn,
            "SELECT pg_try_advisory_lock($1) AS locked",
            Locked,
            [(diesel::sql_types::BigInt, LEADER_LOCK)]
        )?;
        if !locked.first().is_some_and(|l| l.locked) {
            return Ok(None);
        }
    }
    Ok(Some(conn))
}
