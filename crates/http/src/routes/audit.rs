//! The audit trail as a transparency log: events read and verified by auditors and
//! commissioners; checkpoints and proofs for anyone holding a receipt.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use dayops_domain::note::Checkpoint;
use dayops_domain::tlog::Hash;
use dayops_domain::FieldError;
use dayops_persistence::audit::{self, AuditFilter, CheckpointMatch};
use dayops_persistence::Page;

use super::validate_query;
use crate::auth::{Overseer, Principal};
use crate::csv_export::{cell, opt_cell, stream_csv, wants_csv, CsvRow};
use crate::extract::Query;
use crate::problem::{may, ApiError, ProblemKind, Problems};
use crate::{run, AppState};

/// One state change, as the audit log holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Its position in the log, from 1 (leaf index + 1).
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    #[schema(example = "create")]
    pub action: String,
    #[schema(example = "contract")]
    pub entity: String,
    pub entity_id: String,
    /// Submission version, for submission events.
    pub version: Option<i32>,
    /// SHA-256 of the canonical JSON of the entity as changed.
    pub content_sha256: Option<String>,
    /// The id a receipt names the event by (events recorded before the log have none).
    pub event_id: Option<String>,
    /// The event's leaf in the log, base64: RFC 9162's leaf hash (SHA-256 of 0x00 and the
    /// canonical JSON of `seq`, `at`, `actor_sub`, `actor_role`, `action`, `entity`,
    /// `entity_id`, `version` and `content_sha256`).
    pub leaf_hash: Option<String>,
    /// When the sequencer gave the event its place in the log.
    pub sequenced_at: Option<DateTime<Utc>>,
    /// For events recorded before the log: the chain hash of the event before (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// For events recorded before the log: SHA-256 over `prev_hash` and this event (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    pub sub: String,
    pub role: String,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `provider`, `contract`, `rate_matrix_version`, `agreement`, …
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// The actor's `sub`.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// The event a receipt names.
    pub event_id: Option<String>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub to: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

impl From<audit::LoggedEvent> for AuditEvent {
    fn from(logged: audit::LoggedEvent) -> Self {
        let e = logged.event;
        AuditEvent {
            seq: e.record.seq,
            at: e.record.at,
            actor: AuditActor {
                sub: e.record.actor_sub,
                role: e.record.actor_role,
            },
            action: e.record.action,
            entity: e.record.entity,
            entity_id: e.record.entity_id,
            version: e.record.version,
            content_sha256: e.record.content_sha256,
            event_id: logged.event_id,
            leaf_hash: logged.leaf_hash.map(|h| B64.encode(h)),
            sequenced_at: logged.sequenced_at,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl CsvRow for AuditEvent {
    /// The hashes (base64 may begin with `+`) read back exactly, for verification.
    fn verbatim() -> &'static [&'static str] {
        &["content_sha256", "leaf_hash", "prev_hash", "hash"]
    }

    fn headers() -> &'static [&'static str] {
        &[
            "seq",
            "at",
            "actor_sub",
            "actor_role",
            "action",
            "entity",
            "entity_id",
            "version",
            "content_sha256",
            "event_id",
            "leaf_hash",
            "sequenced_at",
            "prev_hash",
            "hash",
        ]
    }

    fn record(&self) -> Vec<String> {
        vec![
            cell(self.seq),
            self.at.to_rfc3339(),
            self.actor.sub.clone(),
            self.actor.role.clone(),
            self.action.clone(),
            self.entity.clone(),
            self.entity_id.clone(),
            opt_cell(self.version),
            opt_cell(self.content_sha256.as_ref()),
            opt_cell(self.event_id.as_ref()),
            opt_cell(self.leaf_hash.as_ref()),
            opt_cell(self.sequenced_at.map(|t| t.to_rfc3339())),
            opt_cell(self.prev_hash.as_ref()),
            opt_cell(self.hash.as_ref()),
        ]
    }
}

/// List audit events in sequence order; `Accept: text/csv` exports every match.
#[utoipa::path(
    operation_id = "list_audit_events",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events, or with `Accept: text/csv` every match",
            content((Page<AuditEvent> = "application/json"), (String = "text/csv"))),
        Problems<{ may::ROLE | may::QUERY }>,
    )
)]
#[get("/v1/audit-events")]
pub async fn list(
    _: Overseer,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let filter = AuditFilter {
        entity: query.entity,
        entity_id: query.entity_id,
        actor_sub: query.actor,
        action: query.action,
        event_id: query.event_id,
        from: query.from,
        to: query.to,
    };
    let fetch =
        move |conn: &mut dayops_persistence::DbConnection, cursor: Option<&str>, limit: i64| {
            let after = cursor.and_then(|c| c.parse::<i64>().ok());
            Ok(audit::list(conn, &filter, after, limit)?.map(AuditEvent::from))
        };
    if wants_csv(&req) {
        let cursor = query.cursor.map(|c| c.to_string());
        return Ok(stream_csv(state, cursor, fetch));
    }
    let limit = query.limit.unwrap_or(100);
    let cursor = query.cursor.map(|c| c.to_string());
    let page = run(&state, move |conn| fetch(conn, cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A checkpoint kept outside the database to compare the log with.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// A signed checkpoint kept elsewhere (its signature checked by you), as
    /// `<tree size>:<root hash in base64>`, the second and third lines of its note.
    #[param(
        pattern = r"^[0-9]{1,18}:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
        example = "76:NkkSZyl0hIT+xlRIr8ZoUYJOdMTgGnmInoVHYz6oXQQ="
    )]
    pub checkpoint: Option<String>,
}

/// The result of verifying the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// True when every event matches its leaf (and, before the log, its chain), every
    /// stored subtree its leaves, every signed checkpoint the events and the log's key,
    /// and the checkpoint asked about (if any) the events.
    pub verified: bool,
    /// Events verified (up to the first broken one).
    pub events: u64,
    /// The log's head over the verified events (base64): compare with a checkpoint.
    pub head_hash: String,
    /// The first event at or after which something does not hold.
    pub first_broken_seq: Option<i64>,
    /// What does not hold there.
    pub broken: Option<String>,
    /// Leaves the stored tree holds.
    pub tree_size: u64,
    /// Events recorded and not yet sequenced (they are verified once they are).
    pub pending: u64,
    /// Signed checkpoints checked against the events and the log's key.
    pub checkpoints: u64,
    /// How the log stands against the checkpoint asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointMatch>,
}

impl From<audit::TrailReport> for Verification {
    fn from(r: audit::TrailReport) -> Self {
        Verification {
            verified: r.verified(),
            events: r.check.events,
            head_hash: r.check.head_hash,
            first_broken_seq: r.check.first_broken_seq,
            broken: r.check.broken,
            tree_size: r.tree_size,
            pending: r.pending,
            checkpoints: r.checkpoints,
            checkpoint: r.checkpoint,
        }
    }
}

fn hash_param(pointer: &str, text: &str) -> Result<Hash, ApiError> {
    B64.decode(text)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| {
            ApiError::invalid(vec![FieldError::new(
                pointer,
                "must be a SHA-256 hash in base64",
            )])
        })
}

/// Verify the log from its first event: leaves, chain, subtrees, signed checkpoints.
#[utoipa::path(operation_id = "verify_audit_chain", tag = "audit", params(VerifyQuery), responses((status = 200, body = Verification), Problems<{ may::ROLE | may::QUERY }>))]
#[get("/v1/audit-events/verify")]
pub async fn verify(
    _: Overseer,
    state: web::Data<AppState>,
    Query(query): Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    let kept = query
        .checkpoint
        .map(|text| {
            let bad = || {
                ApiError::invalid(vec![FieldError::new(
                    "/query/checkpoint",
                    "must be <tree size>:<root hash in base64>",
                )])
            };
            let (size, root) = text.split_once(':').ok_or_else(bad)?;
            Ok::<_, ApiError>(Checkpoint {
                origin: state.log_signer.name().to_string(),
                size: size.parse().map_err(|_| bad())?,
                root: hash_param("/query/checkpoint", root)?,
            })
        })
        .transpose()?;
    let key = state.log_signer.verifier();
    let report = run(&state, move |conn| {
        Ok(audit::verify(conn, Some(&key), kept.as_ref())?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Verification::from(report)))
}

/// A signed checkpoint of the log: the C2SP `tlog-checkpoint` note and what it says.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogCheckpoint {
    /// Names the deployment; the key's name.
    #[schema(example = "dayops.local/audit")]
    pub origin: String,
    pub tree_size: u64,
    /// The RFC 9162 root hash, base64.
    pub root_hash: String,
    pub signed_at: DateTime<Utc>,
    /// The signed note exactly as signed: keep it, with proofs, as evidence.
    pub note: String,
    /// The log's verifier key (`<name>+<key id>+<base64 key>`, as Go's `sumdb/note` writes
    /// it). Take it from the council out of band to trust it.
    pub public_key: String,
}

fn checkpoint_answer(state: &AppState, c: audit::StoredCheckpoint) -> LogCheckpoint {
    LogCheckpoint {
        origin: state.log_signer.name().to_string(),
        tree_size: c.tree_size,
        root_hash: B64.encode(c.root_hash),
        signed_at: c.signed_at,
        note: c.note,
        public_key: state.log_signer.verifier().encode(),
    }
}

/// The newest signed checkpoint of the audit log (any role: it holds only hashes).
#[utoipa::path(operation_id = "get_audit_checkpoint", tag = "audit", responses((status = 200, body = LogCheckpoint), Problems<{ may::FIND }>))]
#[get("/v1/audit/checkpoint")]
pub async fn get_checkpoint(
    _: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let latest = run(&state, |conn| Ok(audit::latest_checkpoint(conn)?)).await?;
    let latest = latest
        .ok_or_else(|| ApiError::new(ProblemKind::NotFound, "no checkpoint has been signed yet"))?;
    Ok(HttpResponse::Ok().json(checkpoint_answer(&state, latest)))
}

/// Sequence every recorded event now and sign a checkpoint of the log (commissioners and
/// auditors). The log signs one by itself at least every minute while there are new events.
#[utoipa::path(operation_id = "sign_audit_checkpoint", tag = "audit", responses((status = 200, body = LogCheckpoint), Problems<{ may::ROLE | may::CONFLICT }>))]
#[post("/v1/audit/checkpoint")]
pub async fn sign_checkpoint(
    _: Overseer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let signer = state.log_signer.clone();
    let latest = run(&state, move |conn| {
        while audit::has_work(conn)? {
            audit::sequence(conn, 5_000)?;
        }
        Ok(audit::sign_checkpoint(conn, &signer)?)
    })
    .await?;
    let latest = latest.ok_or_else(|| {
        ApiError::new(
            ProblemKind::NotFound,
            "the log is empty: there is nothing to sign",
        )
    })?;
    Ok(HttpResponse::Ok().json(checkpoint_answer(&state, latest)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (a checkpoint you hold).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub from: u64,
    /// The newer tree size, at most the log's.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub to: u64,
}

/// That the log of `to` leaves extends the log of `from` leaves: RFC 9162 §2.1.4.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// The root hash at `from`, base64.
    pub from_root: String,
    /// The root hash at `to`, base64.
    pub to_root: String,
    /// The proof's hashes, base64, in RFC 9162's order.
    pub proof: Vec<String>,
}

/// The consistency proof between two sizes of the log (any role: it holds only hashes).
#[utoipa::path(operation_id = "audit_consistency_proof", tag = "audit", params(ConsistencyQuery), responses((status = 200, body = ConsistencyProof), Problems<{ may::FIND | may::QUERY }>))]
#[get("/v1/audit/consistency")]
pub async fn consistency_proof(
    _: Principal,
    state: web::Data<AppState>,
    Query(query): Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = (query.from, query.to);
    let proof = run(&state, move |conn| Ok(audit::consistency(conn, from, to)?)).await?;
    let (from_root, to_root, hashes) = proof.ok_or_else(|| {
        ApiError::new(
            ProblemKind::NotFound,
            "there is no such proof: from must not exceed to, nor to the log's size",
        )
    })?;
    Ok(HttpResponse::Ok().json(ConsistencyProof {
        from,
        to,
        from_root: B64.encode(from_root),
        to_root: B64.encode(to_root),
        proof: hashes.iter().map(|h| B64.encode(h)).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The tree size to prove inclusion in; the newest checkpoint's when absent.
    #[param(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    pub tree_size: Option<u64>,
}

/// That an event is in the log: RFC 9162 §2.1.3, with the event and, when one was signed
/// at that size, the checkpoint. Check it offline with `dayops log verify-receipt`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub seq: i64,
    /// `seq` − 1.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The event's leaf hash, base64; recompute it from `event`.
    pub leaf_hash: String,
    /// The root hash at `tree_size`, base64.
    pub root_hash: String,
    /// The proof's hashes, base64, from the leaf up.
    pub proof: Vec<String>,
    pub event: AuditEvent,
    /// The signed checkpoint at `tree_size`, if one was signed at that size.
    pub checkpoint: Option<String>,
}

/// The inclusion proof of one event. `{seq}` is its position, or the `event_id` a receipt
/// named. A provider may prove the events of its own submissions; commissioners and
/// auditors any event. An event recorded and not yet sequenced is 409 (retry shortly).
#[utoipa::path(operation_id = "audit_inclusion_proof", tag = "audit", params(("seq" = String, Path, description = "The event's seq, or its event_id"), ProofQuery), responses((status = 200, body = InclusionProof), Problems<{ may::FIND | may::QUERY | may::CONFLICT }>))]
#[get("/v1/audit-events/{seq}/proof")]
pub async fn inclusion_proof(
    principal: Principal,
    state: web::Data<AppState>,
    seq: web::Path<String>,
    Query(query): Query<ProofQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = seq.into_inner();
    let scope = principal.own_provider().map(str::to_string);
    let answer = run(&state, move |conn| {
        let seq = match key.parse::<i64>() {
            Ok(seq) => seq,
            Err(_) => match audit::seq_of(conn, &key)? {
                Some(seq) => seq,
                None if audit::is_pending(conn, &key)? => {
                    return Err(ApiError::new(
                        ProblemKind::Conflict,
                        format!(
                        "event {key} is recorded and waits for the sequencer; retry in a second"
                    ),
                    ))
                }
                None => return Err(ApiError::not_found()),
            },
        };
        let event = audit::get(conn, seq)?.ok_or_else(ApiError::not_found)?;
        if let Some(provider) = &scope {
            let own =
                dayops_persistence::submissions::provider_of(conn, &event.event.record.entity_id)?;
            let submission =
                dayops_domain::submission::SubmissionKind::parse(&event.event.record.entity)
                    .is_some();
            if !submission || own.as_deref() != Some(provider) {
                return Err(ApiError::not_found());
            }
        }
        let checkpoint = audit::latest_checkpoint(conn)?;
        let size = match (query.tree_size, &checkpoint) {
            (Some(size), _) => size,
            (None, Some(c)) if seq as u64 <= c.tree_size => c.tree_size,
            (None, _) => {
                return Err(ApiError::new(
                    ProblemKind::Conflict,
                    format!("event {seq} is in the log but not yet under a signed checkpoint; one is signed at least every minute (or give tree_size)"),
                ))
            }
        };
        let proof = audit::inclusion(conn, seq, size)?.ok_or_else(|| {
            ApiError::new(
                ProblemKind::NotFound,
                format!("there is no such proof: event {seq} is not in a tree of {size}, or the log is not that large yet"),
            )
        })?;
        let note = audit::checkpoint_at(conn, size)?.map(|c| c.note);
        Ok(InclusionProof {
            seq,
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
            leaf_hash: B64.encode(proof.leaf_hash),
            root_hash: B64.encode(proof.root_hash),
            proof: proof.hashes.iter().map(|h| B64.encode(h)).collect(),
            event: AuditEvent::from(event),
            checkpoint: note,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}
