//! A claim's decision and payment, and needs-adjustment when a register behind it changes.

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::audit::Actor;
use dayops_domain::submission::SubmissionStatus;

use crate::error::StoreError;
use crate::schema::submissions as submission_rows;
use crate::schema::{claim_states, claimed_units};
use crate::submissions;
use crate::{now, write_transaction, DbConnection};

use super::{get, ClaimView, KIND};

/// A commissioner's decision: `approved` or `declined`, from `accepted` or
/// `partially_accepted` only. A declined claim releases its units.
pub fn decide(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<ClaimView, StoreError> {
    write_transaction(conn, |conn| {
        let current = submissions::lock_current(conn, KIND, id, None)?;
        if !matches!(
            current.envelope.status,
            SubmissionStatus::Accepted | SubmissionStatus::PartiallyAccepted
        ) {
            return Err(StoreError::conflict(
                format!("a {} claim cannot be decided", current.envelope.status),
                "/decision",
                "only accepted or partially accepted claims are decided",
            ));
        }
        let (decision, status, action) = if approve {
            ("approve", SubmissionStatus::Approved, "approve")
        } else {
            ("reject", SubmissionStatus::Declined, "decline")
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
        if !approve {
            diesel::delete(claimed_units::table.filter(claimed_units::submission_id.eq(id)))
                .execute(conn)?;
        }
        let hash = dayops_domain::canonical::content_sha256(
            &serde_json::json!({"decision": decision, "reason": reason}),
        );
        submissions::set_status(conn, actor, id, KIND, status, action, Some(hash))?;
        Ok(())
    })?;
    get(conn, id, None, None)?.ok_or(StoreError::NotFound)
}

/// Records payment of an approved claim.
pub fn pay(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    remittance_ref: &str,
    paid_on: NaiveDate,
) -> Result<ClaimView, StoreError> {
    write_transaction(conn, |conn| {
        let current = submissions::lock_current(conn, KIND, id, None)?;
        if current.envelope.status != SubmissionStatus::Approved {
            return Err(StoreError::conflict(
                format!("a {} claim cannot be paid", current.envelope.status),
                "/remittance_ref",
                "only approved claims are paid",
            ));
        }
        diesel::update(claim_states::table.find(id))
            .set((
                claim_states::remittance_ref.eq(remittance_ref),
                claim_states::paid_on.eq(paid_on),
                claim_states::paid_by.eq(&actor.sub),
                claim_states::paid_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        let hash = dayops_domain::canonical::content_sha256(
            &serde_json::json!({"remittance_ref": remittance_ref, "paid_on": paid_on}),
        );
        submissions::set_status(
            conn,
            actor,
            id,
            KIND,
            SubmissionStatus::Paid,
            "pay",
            Some(hash),
        )
    })?;
    get(conn, id, None, None)?.ok_or(StoreError::NotFound)
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
    let ids: Vec<String> = submission_rows::table
        .filter(submission_rows::kind.eq(KIND.as_str()))
        .filter(submission_rows::contract_id.eq(contract_id))
        .filter(submission_rows::status.eq(SubmissionStatus::Approved.as_str()))
        .filter(submission_rows::period_start.le(to))
        .filter(submission_rows::period_end.ge(from))
        .select(submission_rows::id)
        .load(conn)?;
    for id in ids {
        submissions::set_status(
            conn,
            actor,
            &id,
            KIND,
            SubmissionStatus::NeedsAdjustment,
            "needs_adjustment",
            None,
        )?;
    }
    Ok(())
}
