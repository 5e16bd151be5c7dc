//! `dayops audit …` and `dayops log …`: verifying the audit log against its database, and
//! checking receipts offline with nothing but the log's public key.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use dayops_domain::audit::AuditRecord;
use dayops_domain::note::{Checkpoint, LogSigner, LogVerifier};
use dayops_domain::tlog::{self, Hash};
use dayops_persistence::audit::{self, CheckpointMatch};
use dayops_persistence::DbConnection;

use crate::config::{new_log_signer, write_key_file};

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A verifier key given as itself or as the path of a file holding it.
pub fn verifier_key(text: &str) -> Result<LogVerifier, String> {
    let text = if Path::new(text).is_file() {
        read(Path::new(text))?
    } else {
        text.to_string()
    };
    LogVerifier::parse(&text).map_err(|e| e.to_string())
}

/// `dayops audit verify`: prints the result as JSON; an error (non-zero exit) on a break.
pub fn audit_verify(
    conn: &mut DbConnection,
    key: &LogVerifier,
    checkpoint: Option<PathBuf>,
) -> Result<(), String> {
    let kept = checkpoint
        .map(|path| {
            let note = read(&path)?;
            key.open(&note).map_err(|e| {
                format!(
                    "{} is not a checkpoint signed by the log: {e}",
                    path.display()
                )
            })
        })
        .transpose()?;
    let report = audit::verify(conn, Some(key), kept.as_ref()).map_err(|e| e.to_string())?;
    let json = serde_json::json!({
        "verified": report.verified(),
        "events": report.check.events,
        "head_hash": report.check.head_hash,
        "first_broken_seq": report.check.first_broken_seq,
        "broken": report.check.broken,
        "tree_size": report.tree_size,
        "pending": report.pending,
        "checkpoints": report.checkpoints,
        "checkpoint": report.checkpoint,
    });
    println!("{json}");
    if let (Some(seq), Some(what)) = (report.check.first_broken_seq, &report.check.broken) {
        return Err(format!("the audit log is broken at seq {seq}: {what}"));
    }
    match report.checkpoint {
        Some(CheckpointMatch::Missing) => {
            Err("the audit log no longer holds the checkpoint's events: events were removed".into())
        }
        Some(CheckpointMatch::Differs) => {
            Err("the audit log differs from the checkpoint: it was rewritten".into())
        }
        _ => Ok(()),
    }
}

/// `dayops audit checkpoint`: sequences what is pending, signs a checkpoint of the log and
/// writes its note (to keep outside the database).
pub fn audit_checkpoint(
    conn: &mut DbConnection,
    signer: &LogSigner,
    out: Option<PathBuf>,
) -> Result<(), String> {
    let fail = |e: dayops_persistence::StoreError| e.to_string();
    while audit::has_work(conn).map_err(fail)? {
        audit::sequence(conn, 5_000).map_err(fail)?;
    }
    let latest = audit::sign_checkpoint(conn, signer)
        .map_err(fail)?
        .ok_or("the log is empty: there is nothing to sign")?;
    match out {
        Some(path) => std::fs::write(&path, &latest.note)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            print!("{}", latest.note);
            Ok(())
        }
    }
}

/// `dayops log keygen`: a new signing key in a new file; prints its public key.
pub fn keygen(origin: &str, out: &Path) -> Result<(), String> {
    let signer = new_log_signer(origin)?;
    write_key_file(out, &signer).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} exists; a log's key is never overwritten", out.display())
        } else {
            format!("cannot write {}: {e}", out.display())
        }
    })?;
    println!("{}", signer.verifier().encode());
    Ok(())
}

/// An audit event as the API answers it, enough to recompute its leaf.
#[derive(Debug, Deserialize)]
struct EventJson {
    seq: i64,
    at: DateTime<Utc>,
    actor: ActorJson,
    action: String,
    entity: String,
    entity_id: String,
    version: Option<i32>,
    content_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ActorJson {
    sub: String,
    role: String,
}

/// `GET /v1/audit-events/{seq}/proof` as saved.
#[derive(Debug, Deserialize)]
struct InclusionJson {
    leaf_index: u64,
    tree_size: u64,
    proof: Vec<String>,
    event: EventJson,
}

/// `GET /v1/audit/consistency` as saved.
#[derive(Debug, Deserialize)]
struct ConsistencyJson {
    from: u64,
    to: u64,
    proof: Vec<String>,
}

fn hashes(texts: &[String]) -> Result<Vec<Hash>, String> {
    texts
        .iter()
        .map(|t| {
            B64.decode(t)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| format!("{t} is not a base64 SHA-256 hash"))
        })
        .collect()
}

fn json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    serde_json::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

fn open(key: &LogVerifier, path: &Path) -> Result<Checkpoint, String> {
    key.open(&read(path)?)
        .map_err(|e| format!("{}: not a checkpoint of this log: {e}", path.display()))
}

/// `dayops log verify-receipt`: checks, with the log's public key and no database, that a
/// signed checkpoint is the log's, that the event in an inclusion proof is in the tree the
/// checkpoint commits to (its leaf recomputed from the event itself), and optionally that
/// an older checkpoint is a prefix of it (a consistency proof).
pub fn verify_receipt(
    key: &LogVerifier,
    checkpoint: &Path,
    proof: &Path,
    older: Option<(PathBuf, PathBuf)>,
) -> Result<(), String> {
    let head = open(key, checkpoint)?;
    let inclusion: InclusionJson = json(proof)?;
    let e = &inclusion.event;
    let record = AuditRecord {
        seq: e.seq,
        at: e.at,
        actor_sub: e.actor.sub.clone(),
        actor_role: e.actor.role.clone(),
        action: e.action.clone(),
        entity: e.entity.clone(),
        entity_id: e.entity_id.clone(),
        version: e.version,
        content_sha256: e.content_sha256.clone(),
    };
    if inclusion.tree_size != head.size {
        return Err(format!(
            "the proof is for a tree of {} events, the checkpoint for {}",
            inclusion.tree_size, head.size
        ));
    }
    if inclusion.leaf_index + 1 != e.seq as u64 {
        return Err("the proof's leaf index is not the event's position".into());
    }
    let leaf = record.leaf_hash();
    if !tlog::verify_inclusion(
        inclusion.leaf_index,
        inclusion.tree_size,
        &leaf,
        &hashes(&inclusion.proof)?,
        &head.root,
    ) {
        return Err(format!(
            "event {} is NOT in the log the checkpoint commits to",
            e.seq
        ));
    }
    println!(
        "event {} ({} {} {}) is in {}'s log of {} events",
        e.seq, e.action, e.entity, e.entity_id, head.origin, head.size
    );
    if let Some((old_checkpoint, consistency)) = older {
        let old = open(key, &old_checkpoint)?;
        let proof: ConsistencyJson = json(&consistency)?;
        if (proof.from, proof.to) != (old.size, head.size) {
            return Err(format!(
                "the consistency proof is from {} to {}, the checkpoints are {} and {}",
                proof.from, proof.to, old.size, head.size
            ));
        }
        if !tlog::verify_consistency(
            old.size,
            head.size,
            &old.root,
            &head.root,
            &hashes(&proof.proof)?,
        ) {
            return Err(format!(
                "the log of {} events does NOT extend the log of {}: history was rewritten",
                head.size, old.size
            ));
        }
        println!(
            "the log of {} events extends the log of {} events",
            head.size, old.size
        );
    }
    Ok(())
}
