//! The audit trail: read and verified by auditors and commissioners.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use dayops_domain::audit::{Checkpoint, CheckpointMatch};
use dayops_persistence::audit::{self, AuditFilter};
use dayops_persistence::Page;

use super::validate_query;
use crate::auth::Overseer;
use crate::csv_export::{cell, opt_cell, stream_csv, wants_csv, CsvRow};
use crate::extract::Query;
use crate::problem::{ApiError, ReadProblems};
use crate::{run, AppState};

/// One state change, chained to the one before it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
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
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this event.
    pub hash: String,
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

impl From<dayops_domain::audit::StoredEvent> for AuditEvent {
    fn from(e: dayops_domain::audit::StoredEvent) -> Self {
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
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl CsvRow for AuditEvent {
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
            self.prev_hash.clone(),
            self.hash.clone(),
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
        ReadProblems,
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

/// A checkpoint to compare the chain with (both or neither).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// The `seq` of a checkpoint taken earlier (`dayops audit checkpoint`).
    pub checkpoint_seq: Option<i64>,
    /// The `hash` of that checkpoint.
    pub checkpoint_hash: Option<String>,
}

/// The result of recomputing the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// True when every event links to the one before and its hash recomputes.
    pub verified: bool,
    /// Events verified (up to the first broken one).
    pub events: u64,
    /// Hash of the last verified event; keep a copy elsewhere to detect truncation.
    pub head_hash: String,
    pub head_seq: i64,
    /// The first event that does not verify, if any.
    pub first_broken_seq: Option<i64>,
    /// How the chain stands against the checkpoint asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointMatch>,
}

/// Recompute the audit chain from the first event.
#[utoipa::path(operation_id = "verify_audit_chain", tag = "audit", params(VerifyQuery), responses((status = 200, body = Verification), ReadProblems))]
#[get("/v1/audit-events/verify")]
pub async fn verify(
    _: Overseer,
    state: web::Data<AppState>,
    Query(query): Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    let checkpoint = match (query.checkpoint_seq, query.checkpoint_hash) {
        (None, None) => None,
        (Some(seq), Some(hash)) => Some(Checkpoint {
            seq,
            hash,
            taken_at: Utc::now(),
        }),
        (seq, _) => {
            let missing = if seq.is_some() {
                "checkpoint_hash"
            } else {
                "checkpoint_seq"
            };
            return Err(ApiError::invalid(vec![dayops_domain::FieldError::new(
                format!("/query/{missing}"),
                "checkpoint_seq and checkpoint_hash go together",
            )]));
        }
    };
    let (check, held) = run(&state, move |conn| {
        let check = audit::verify(conn)?;
        let held = checkpoint
            .map(|c| audit::compare_checkpoint(conn, &c))
            .transpose()?;
        Ok((check, held))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Verification {
        verified: check.first_broken_seq.is_none()
            && held.is_none_or(|h| h == CheckpointMatch::Matches),
        checkpoint: held,
        events: check.events,
        head_hash: check.head_hash,
        head_seq: check.head_seq,
        first_broken_seq: check.first_broken_seq,
    }))
}
