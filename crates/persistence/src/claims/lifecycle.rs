//! A claim's decision and payment, and needs-adjustment when a register behind it changes.

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::audit::Actor;
use dayops_domain::canonical::content_sha256;
use dayops_domain::lifecycle::ClaimEvent;

use crate::audit::Audited;
use crate::error::StoreError;
use crate::schema::submissions as submission_rows;
use crate::schema::{claim_states, claimed_units};
use crate::submissions;
use crate::{now, write_transaction, DbConnection};

use super::{get, ClaimView, KIND};

/// A commissioner's decision (`ClaimEvent::Approve` or `Decline`) or payment (`Pay`),
/// applied as the domain's lifecycle allows. A declined claim releases its units.
pub fn apply(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    event: ClaimEvent,
    decision: ClaimDecision<'_>,
) -> Result<Audited<ClaimView>, StoreError> {
    let event_id = write_transaction(conn, |conn| {
        let current = submissions::lock_current(conn, KIND, id, None)?;
        let status = event.apply(current.envelope.status)?;
        let accepted_total_pence: Option<i64> = crate::schema::claim_totals::table
            .find((id, current.envelope.version))
            .select(crate::schema::claim_totals::accepted_total_pence)
            .first(conn)
            .optional()?;
        let (hash, details) = match decision {
            ClaimDecision::Decided { reason } => {
                let decision = if event == ClaimEvent::Approve {
                    "approve"
                } else {
                    "reject"
                };
                diesel::delete(claim_states::table.find(id)).execute(conn)?;
                diesel::insert_into(claim_states::table)
                    .values((
                        claim_states::submission_id.eq(id),
                        claim_states::decision.eq(decision),
                        claim_states::decision_reason.eq(reason),
                        claim_states::decided_by.eq(&actor.sub),
                        claim_states::decided_at.eq(now().naive_utc()),
                    ))
                    .execute(conn)?;
                if event == ClaimEvent::Decline {
                    diesel::delete(
                        claimed_units::table.filter(claimed_units::submission_id.eq(id)),
                    )
                    .execute(conn)?;
                }
                (
                    decision_sha256(decision, reason),
                    serde_json::json!({"accepted_total_pence": accepted_total_pence}),
                )
            }
            ClaimDecision::Paid {
                remittance_ref,
                paid_on,
            } => {
                diesel::update(claim_states::table.find(id))
                    .set((
                        claim_states::remittance_ref.eq(remittance_ref),
                        claim_states::paid_on.eq(paid_on),
                        claim_states::paid_by.eq(&actor.sub),
                        claim_states::paid_at.eq(now().naive_utc()),
                    ))
                    .execute(conn)?;
                (
                    payment_sha256(remittance_ref, paid_on),
                    serde_json::json!({
                        "accepted_total_pence": accepted_total_pence,
                        "remittance_ref": remittance_ref,
                        "paid_on": paid_on,
                    }),
                )
            }
        };
        let change = submissions::StatusChange {
            status,
            action: event.action(),
            content_sha256: Some(hash),
            details,
        };
        submissions::set_status(conn, actor, id, KIND, change)
    })?;
    Ok(Audited {
        value: get(conn, id, None, None)?.ok_or(StoreError::NotFound)?,
        events: vec![event_id],
    })
}

/// What a decision's audit event records: the SHA-256 of its canonical JSON.
pub fn decision_sha256(decision: &str, reason: &str) -> String {
    content_sha256(&serde_json::json!({"decision": decision, "reason": reason}))
}

/// What a payment's audit event records.
pub fn payment_sha256(remittance_ref: &str, paid_on: NaiveDate) -> String {
    content_sha256(&serde_json::json!({"remittance_ref": remittance_ref, "paid_on": paid_on}))
}

/// What a commissioner records with a lifecycle event.
pub enum ClaimDecision<'a> {
    Decided {
        reason: &'a str,
    },
    Paid {
        remittance_ref: &'a str,
        paid_on: NaiveDate,
    },
}

/// Marks the contract's approved claims whose period overlaps `from`..`to` as
/// `needs_adjustment`: a register behind them has changed. Runs in the caller's transaction.
pub fn mark_needs_adjustment(
    conn: &mut DbConnection,
    actor: &Actor,
    contract_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(), StoreError> {
    let event = ClaimEvent::RegisterChanged;
    let ids: Vec<String> = submission_rows::table
        .filter(submission_rows::kind.eq(KIND.as_str()))
        .filter(submission_rows::contract_id.eq(contract_id))
        .filter(submission_rows::status.eq_any(event.applies_to().iter().map(|s| s.as_str())))
        .filter(submission_rows::period_start.le(to))
        .filter(submission_rows::period_end.ge(from))
        .select(submission_rows::id)
        .load(conn)?;
    for id in ids {
        let change = submissions::StatusChange {
            status: event.leads_to(),
            action: event.action(),
            content_sha256: None,
            details: serde_json::json!({"period_from": from, "period_to": to}),
        };
        submissions::set_status(conn, actor, &id, KIND, change)?;
    }
    Ok(())
}
