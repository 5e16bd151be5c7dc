//! A version of a claim with its priced lines, totals and state.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use dayops_domain::claim::{ClaimLine, PricedLine};
use dayops_domain::types::{Item, SessionType};

use crate::error::{vocab, StoreError};
use crate::schema::{claim_lines, claim_states, claim_totals};
use crate::submissions;
use crate::{utc, DbConnection};

use super::{ClaimState, ClaimView, PricedClaimLine, KIND};

fn state(conn: &mut DbConnection, id: &str) -> Result<ClaimState, StoreError> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
        Option<String>,
        Option<NaiveDate>,
    );
    let row: Option<Row> = claim_states::table
        .find(id)
        .select((
            claim_states::decision,
            claim_states::decision_reason,
            claim_states::decided_by,
            claim_states::decided_at,
            claim_states::remittance_ref,
            claim_states::paid_on,
        ))
        .first(conn)
        .optional()?;
    Ok(row
        .map(
            |(decision, decision_reason, decided_by, decided_at, remittance_ref, paid_on)| {
                ClaimState {
                    decision,
                    decision_reason,
                    decided_by,
                    decided_at: decided_at.map(utc),
                    remittance_ref,
                    paid_on,
                }
            },
        )
        .unwrap_or_default())
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
    type Row = (
        String,
        NaiveDate,
        String,
        Option<String>,
        i64,
        String,
        i64,
        i64,
        i64,
        i64,
        i64,
        Option<String>,
    );
    let rows: Vec<Row> = claim_lines::table
        .filter(claim_lines::submission_id.eq(id))
        .filter(claim_lines::version.eq(v))
        .order(claim_lines::line_no.asc())
        .select((
            claim_lines::person_ref,
            claim_lines::date,
            claim_lines::item,
            claim_lines::session_type,
            claim_lines::quantity_quarters,
            claim_lines::need_band,
            claim_lines::unit_price_pence,
            claim_lines::amount_pence,
            claim_lines::accepted_quantity_quarters,
            claim_lines::accepted_unit_price_pence,
            claim_lines::accepted_amount_pence,
            claim_lines::accepted_need_band,
        ))
        .load(conn)?;
    let lines = rows
        .into_iter()
        .map(
            |(
                person_ref,
                date,
                item,
                session_type,
                q,
                need_band,
                unit,
                amount,
                aq,
                aunit,
                aamount,
                aband,
            )| {
                Ok(PricedClaimLine {
                    claimed: ClaimLine {
                        person_ref,
                        date,
                        item: vocab("claim_lines.item", &item, Item::parse)?,
                        session_type: session_type
                            .map(|s| vocab("claim_lines.session_type", &s, SessionType::parse))
                            .transpose()?,
                        quantity: q as f64 / 4.0,
                        need_band,
                        unit_price_pence: unit,
                        amount_pence: amount,
                    },
                    accepted: PricedLine {
                        accepted_quantity: aq as f64 / 4.0,
                        accepted_unit_price_pence: aunit,
                        accepted_amount_pence: aamount,
                        accepted_need_band: aband,
                    },
                })
            },
        )
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
