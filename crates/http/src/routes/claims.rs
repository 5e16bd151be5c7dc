//! `/v1/claims`: matrix-rate claims, priced by the council, decided and paid.

use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use dayops_domain::claim::{ClaimInput, ClaimLine, PricedClaim};
use dayops_domain::finding::{Finding, Report};
use dayops_domain::lifecycle::ClaimEvent;
use dayops_domain::submission::{SubmissionKind, SubmissionStatus};
use dayops_domain::FieldError;
use dayops_persistence::claims::{
    self, ClaimDecision, ClaimState, ClaimView, Claims, PricedClaimLine,
};
use dayops_persistence::pipeline::Prepared;
use dayops_persistence::submissions::StoredVersion;
use dayops_persistence::DbConnection;

use super::ensure_valid;
use super::submissions::{idempotency_key, if_match, today, SubmissionReceipt};
use crate::auth::{Commissioner, Submitter};
use crate::budget::PARSED_ANSWER_WEIGHT;
use crate::extract::{media_type, parse_json, read_body, JsonBody, Query};
use crate::pipeline::AnswerPieces;
use crate::problem::{may, ApiError, ProblemKind, Problems};
use crate::{pipeline, run, AppState};

const KIND: SubmissionKind = SubmissionKind::Claim;

/// A line with the council's price and the findings about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimLineResult {
    #[serde(flatten)]
    pub line: PricedClaimLine,
    pub findings: Vec<Finding>,
}

/// A version of a claim: the envelope, every line priced, the totals, and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Claim {
    #[serde(flatten)]
    pub receipt: SubmissionReceipt,
    /// `total_pence` as the provider claimed it.
    pub claimed_total_pence: i64,
    pub accepted_total_pence: i64,
    pub lines: Vec<ClaimLineResult>,
    #[serde(flatten)]
    pub state: ClaimState,
}

/// What validating a claim gives, stored nowhere.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimPricing {
    pub status: SubmissionStatus,
    pub validation: Report,
    pub claimed_total_pence: i64,
    pub accepted_total_pence: i64,
    pub lines: Vec<ClaimLineResult>,
}

impl ClaimLineResult {
    /// A priced line with the findings it keeps (moved out of it, answered beside it).
    fn of(mut line: PricedClaimLine) -> Self {
        let findings = std::mem::take(&mut line.accepted.findings);
        ClaimLineResult { line, findings }
    }
}

fn document(view: ClaimView) -> Claim {
    claim_version(
        &view.stored,
        view.lines,
        (view.claimed_total_pence, view.accepted_total_pence),
        view.state,
    )
}

/// A claim version as answered, its findings beside the lines they are about.
fn claim_version(
    stored: &StoredVersion,
    lines: Vec<PricedClaimLine>,
    (claimed_total_pence, accepted_total_pence): (i64, i64),
    state: ClaimState,
) -> Claim {
    Claim {
        receipt: SubmissionReceipt::of(stored),
        claimed_total_pence,
        accepted_total_pence,
        lines: lines.into_iter().map(ClaimLineResult::of).collect(),
        state,
    }
}

/// The answer to a create or an amendment: the version about to be stored, priced.
fn prepared_json(prepared: &Prepared<'_, Claims>) -> Result<String, ApiError> {
    let priced = &prepared.assessment;
    let lines = prepared
        .input
        .lines
        .iter()
        .zip(&priced.lines)
        .map(|(claimed, accepted)| PricedClaimLine {
            claimed: claimed.clone(),
            accepted: accepted.clone(),
        })
        .collect();
    let mut claim = claim_version(
        &prepared.version,
        lines,
        (priced.claimed_total_pence, priced.accepted_total_pence),
        ClaimState::default(),
    );
    claim.receipt.audit_event_id = Some(prepared.audit_event_id.clone());
    pipeline::json(&claim)
}

fn pricing(claimed: &[ClaimLine], priced: PricedClaim) -> ClaimPricing {
    let lines = claimed
        .iter()
        .zip(priced.lines)
        .map(|(claimed, accepted)| {
            ClaimLineResult::of(PricedClaimLine {
                claimed: claimed.clone(),
                accepted,
            })
        })
        .collect();
    ClaimPricing {
        status: priced.status,
        validation: Report::of(priced.findings),
        claimed_total_pence: priced.claimed_total_pence,
        accepted_total_pence: priced.accepted_total_pence,
        lines,
    }
}

/// Reads a JSON claim, refusing malformed quantities and session types (422).
async fn read_claim(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(ClaimInput, web::BytesMut), ApiError> {
    match media_type(req).as_deref() {
        Some("application/json") => {}
        other => {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "expected application/json, got {}",
                    other.unwrap_or("no content type")
                ),
            ))
        }
    }
    let bytes = read_body(req, &mut payload.into_inner()).await?;
    let claim: ClaimInput = parse_json(&bytes)?;
    ensure_valid(claim.check_shape())?;
    Ok((claim, bytes))
}

/// Submit a claim for one payment period. Every line is priced from the matrix at the
/// band assessed on its date; the claim is stored whatever its findings (201).
#[utoipa::path(
    operation_id = "create_claim",
    tag = "claims",
    params(("Idempotency-Key" = String, Header, description = "Required; replays the stored response for the same request")),
    request_body = ClaimInput,
    responses(
        (status = 201, body = Claim, headers(("ETag" = String), ("Location" = String))),
        Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IDEMPOTENT }>,
    )
)]
#[post("/v1/claims")]
pub async fn create(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let (claim, bytes) = read_claim(&req, payload).await?;
    pipeline::create::<Claims, _>(
        &state,
        &req,
        &principal,
        (key, &bytes),
        claim,
        prepared_json,
    )
    .await
}

/// Price and check a claim; nothing is stored.
#[utoipa::path(operation_id = "validate_claim", tag = "claims", request_body = ClaimInput, responses((status = 200, body = ClaimPricing), Problems<{ may::ROLE | may::FIND | may::BODY }>))]
#[post("/v1/claims/validate")]
pub async fn validate(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (claim, _) = read_claim(&req, payload).await?;
    let (claim, priced) = pipeline::validate::<Claims>(&state, &principal, claim).await?;
    Ok(HttpResponse::Ok().json(pricing(&claim.lines, priced)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DraftQuery {
    pub contract_id: String,
    /// The first day of one of the contract's payment periods.
    pub period_start: NaiveDate,
}

/// A claim priced from the period's registers that are not rejected, ready to submit
/// unchanged; nothing is stored.
#[utoipa::path(operation_id = "draft_claim", tag = "claims", params(DraftQuery), responses((status = 200, body = ClaimInput), Problems<{ may::ROLE | may::FIND | may::QUERY }>))]
#[post("/v1/claims/draft")]
pub async fn draft(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    Query(query): Query<DraftQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = principal.provider_id.clone();
    let today = today();
    let claim = run(&state, move |conn| {
        Ok(claims::draft_from_registers(
            conn,
            scope.as_deref(),
            &query.contract_id,
            query.period_start,
            today,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(claim))
}

/// Amend a claim: stores the next version and prices it again. A paid claim, or one whose
/// correction window has closed, cannot be amended (409 naming SUB-005; nothing is stored).
#[utoipa::path(
    operation_id = "amend_claim",
    tag = "claims",
    params(("If-Match" = String, Header, description = "The ETag of the current version")),
    request_body = ClaimInput,
    responses((status = 200, body = Claim, headers(("ETag" = String))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IF_MATCH }>)
)]
#[put("/v1/claims/{id}")]
pub async fn amend(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req)?;
    let (claim, bytes) = read_claim(&req, payload).await?;
    pipeline::amend::<Claims, _>(
        &state,
        &principal,
        (id.into_inner(), expected),
        (claim, bytes.len()),
        prepared_json,
    )
    .await
}

fn read(
    conn: &mut DbConnection,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<(i32, AnswerPieces)>, ApiError> {
    let Some(view) = claims::get(conn, id, version, scope)? else {
        return Ok(None);
    };
    let version = view.stored.envelope.version;
    Ok(Some((version, AnswerPieces::json(&document(view))?)))
}

pipeline::submission_reads! {
    kind: KIND, tag: "claims", document: Claim, read: (read, PARSED_ANSWER_WEIGHT),
    get: ("get_claim", "/v1/claims/{id}", "Read the current version of a claim."),
    version: ("get_claim_version", "/v1/claims/{id}/versions/{version}",
        "Read one version of a claim, as it was priced."),
    list: ("list_claims", "/v1/claims", "List claims (a provider sees its own)."),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    Reject,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub decision: DecisionKind,
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub reason: String,
}

/// A free-text member, trimmed: at most `max` characters as sent (as the document's
/// `maxLength` counts them) and not blank.
fn text_field(pointer: &str, text: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || text.chars().count() > max {
        return Err(ApiError::invalid(vec![FieldError::new(
            pointer,
            format!("must be 1 to {max} characters, not all spaces"),
        )]));
    }
    Ok(trimmed.to_string())
}

/// Approve or reject an accepted or partially accepted claim (`approved`, `declined`).
#[utoipa::path(operation_id = "decide_claim", tag = "claims", request_body = DecisionInput, responses((status = 200, body = Claim, headers(("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT }>))]
#[post("/v1/claims/{id}/decision")]
pub async fn decide(
    Commissioner(principal): Commissioner,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(input): JsonBody<DecisionInput>,
) -> Result<HttpResponse, ApiError> {
    let reason = text_field("/reason", &input.reason, 1000)?;
    let actor = principal.actor();
    let id = id.into_inner();
    let view = run(&state, move |conn| {
        let event = match input.decision {
            DecisionKind::Approve => ClaimEvent::Approve,
            DecisionKind::Reject => ClaimEvent::Decline,
        };
        let decided = ClaimDecision::Decided { reason: &reason };
        Ok(claims::apply(conn, &actor, &id, event, decided)?)
    })
    .await?;
    Ok(super::audited(HttpResponse::Ok(), view.map(document)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        example = "BACS-2026-04-118"
    )]
    pub remittance_ref: String,
    pub paid_on: NaiveDate,
}

/// Record payment of an approved claim (`paid`).
#[utoipa::path(operation_id = "pay_claim", tag = "claims", request_body = PaymentInput, responses((status = 200, body = Claim, headers(("Audit-Event-Id" = String, description = "The audit event that records the change"))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT }>))]
#[post("/v1/claims/{id}/payment")]
pub async fn pay(
    Commissioner(principal): Commissioner,
    state: web::Data<AppState>,
    id: web::Path<String>,
    JsonBody(input): JsonBody<PaymentInput>,
) -> Result<HttpResponse, ApiError> {
    let remittance = text_field("/remittance_ref", &input.remittance_ref, 64)?;
    let actor = principal.actor();
    let id = id.into_inner();
    let view = run(&state, move |conn| {
        let paid = ClaimDecision::Paid {
            remittance_ref: &remittance,
            paid_on: input.paid_on,
        };
        Ok(claims::apply(conn, &actor, &id, ClaimEvent::Pay, paid)?)
    })
    .await?;
    Ok(super::audited(HttpResponse::Ok(), view.map(document)))
}
