//! A version of a claim with its priced lines, totals and state.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use dayops_domain::claim::{ClaimLine, PricedLine};
use dayops_domain::types::{Item, SessionType};

use crate::error::{from_json, vocab, StoreError};
use crate::schema::{claim_lines, claim_states, claim_totals};
use crate::submissions;
use crate::{utc, DbConnection};

use super::{stored_quantity, ClaimState, ClaimView, PricedClaimLine, KIND};

/// A claim's decision and payment, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = claim_states)]
struct StateRow {
    decision: Option<String>,
    decision_reason: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    remittance_ref: Option<String>,
    paid_on: Option<NaiveDate>,
}

fn state(conn: &mut DbConnection, id: &str) -> Result<ClaimState, StoreError> {
    let row = claim_states::table
        .find(id)
        .select(StateRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row
        .map(|row| ClaimState {
            decision: row.decision,
            decision_reason: row.decision_reason,
            decided_by: row.decided_by,
            decided_at: row.decided_at.map(utc),
            remittance_ref: row.remittance_ref,
            paid_on: row.paid_on,
        })
        .unwrap_or_default())
}

/// A priced claim line, as stored.
#[derive(Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = claim_lines)]
struct LineRow {
    person_ref: String,
    date: NaiveDate,
    item: String,
    session_type: Option<String>,
    quantity_quarters: i64,
    need_band: String,
    unit_price_pence: i64,
    amount_pence: i64,
    accepted_quantity_quarters: i64,
    accepted_unit_price_pence: i64,
    accepted_amount_pence: i64,
    accepted_need_band: Option<String>,
    findings: String,
}

impl LineRow {
    fn into_line(self) -> Result<PricedClaimLine, StoreError> {
        Ok(PricedClaimLine {
            claimed: ClaimLine {
                person_ref: self.person_ref,
                date: self.date,
                item: vocab("claim_lines.item", &self.item, Item::parse)?,
                session_type: self
                    .session_type
                    .map(|s| vocab("claim_lines.session_type", &s, SessionType::parse))
                    .transpose()?,
                quantity: stored_quantity("claim_lines.quantity_quarters", self.quantity_quarters)?,
                need_band: self.need_band,
                unit_price_pence: self.unit_price_pence,
                amount_pence: self.amount_pence,
            },
            accepted: PricedLine {
                accepted_quantity: stored_quantity(
                    "claim_lines.accepted_quantity_quarters",
                    self.accepted_quantity_quarters,
                )?,
                accepted_unit_price_pence: self.accepted_unit_price_pence,
                accepted_amount_pence: self.accepted_amount_pence,
                accepted_need_band: self.accepted_need_band,
                findings: from_json("claim_lines.findings", &self.findings)?,
            },
        })
    }
}

/// A version of a claim (the current one when `version` is `None`) with its priced lines.
pub fn get(
    conn: &mut DbConnection,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<ClaimView>, StoreError> {
    let Some(stored) = submissions::get_version(conn, KIND, id, version, scope)? else {
        return Ok(None);
    };
    let v = stored.envelope.version;
    let lines = claim_lines::table
        .filter(claim_lines::submission_id.eq(id))
        .filter(claim_lines::version.eq(v))
        .order(claim_lines::line_no.asc())
        .select(LineRow::as_select())
        .load(conn)?
        .into_iter()
        .map(LineRow::into_line)
        .collect::<Result<Vec<_>, StoreError>>()?;
    let (claimed_total_pence, accepted_total_pence): (i64, i64) = claim_totals::table
        .find((id, v))
        .select((
            claim_totals::claimed_total_pence,
            claim_totals::accepted_total_pence,
        ))
        .first(conn)?;
    let state = if version.is_none() || v == stored.envelope.current_version {
        state(conn, id)?
    } else {
        ClaimState::default()
    };
    Ok(Some(ClaimView {
        stored,
        lines,
        claimed_total_pence,
        accepted_total_pence,
        state,
    }))
}

/// The SHA-256 of a version's priced lines and totals as stored (canonical JSON of every
/// line's columns in order, and both totals): what its `price` audit event records.
/// `None` when the version has no priced rows.
pub fn priced_sha256(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
) -> Result<Option<String>, StoreError> {
    let lines = claim_lines::table
        .filter(claim_lines::submission_id.eq(id))
        .filter(claim_lines::version.eq(version))
        .order(claim_lines::line_no.asc())
        .select(LineRow::as_select())
        .load(conn)?;
    let totals: Option<(i64, i64)> = claim_totals::table
        .find((id, version))
        .select((
            claim_totals::claimed_total_pence,
            claim_totals::accepted_total_pence,
        ))
        .first(conn)
        .optional()?;
    let Some((claimed, accepted)) = totals else {
        return Ok(None);
    };
    let value = serde_json::json!({
        "lines": lines,
        "claimed_total_pence": claimed,
        "accepted_total_pence": accepted,
    });
    Ok(Some(dayops_domain::canonical::content_sha256(&value)))
}
