//! Submitting, amending and validating a claim, and the rows a version keeps beside it.

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::audit::Actor;
use dayops_domain::claim::{ClaimInput, PricedClaim};
use dayops_domain::contract::Contract;
use dayops_domain::finding::Report;
use dayops_domain::submission::SubmissionStatus;
use dayops_domain::types::SessionType;

use crate::error::{to_json_value, StoreError};
use crate::idempotency::{self, KeyedRequest};
use crate::schema::{claim_lines, claim_states, claim_totals, claimed_units};
use crate::submissions::{self, Draft, Header, StoredVersion};
use crate::{contracts, DbConnection};

use super::pricing::price;
use super::{quarters, session_key, ClaimState, ClaimView, PricedClaimLine, INSERT_CHUNK, KIND};

fn header(contract: &Contract, claim: &ClaimInput) -> Header {
    Header {
        kind: KIND,
        contract_id: contract.id.clone(),
        provider_id: contract.terms.provider_id.clone(),
        period_key: claim.period_start.to_string(),
        period_start: claim.period_start,
        period_end: claim.period_end,
    }
}

fn draft(claim: &ClaimInput, priced: &PricedClaim) -> Result<Draft, StoreError> {
    Draft::new(
        to_json_value(claim)?,
        priced.status,
        Report::of(priced.findings.clone()),
    )
}

/// Writes the priced lines, totals and held units of a version.
fn write_lines(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    claim: &ClaimInput,
    priced: &PricedClaim,
    live: bool,
) -> Result<(), StoreError> {
    #[derive(Insertable)]
    #[diesel(table_name = claim_lines)]
    #[diesel(treat_none_as_default_value = false)]
    struct Row<'a> {
        submission_id: &'a str,
        version: i32,
        line_no: i32,
        person_ref: &'a str,
        date: NaiveDate,
        item: &'static str,
        session_type: Option<&'static str>,
        quantity_quarters: i64,
        need_band: &'a str,
        unit_price_pence: i64,
        amount_pence: i64,
        accepted_quantity_quarters: i64,
        accepted_unit_price_pence: i64,
        accepted_amount_pence: i64,
        accepted_need_band: Option<&'a str>,
    }
    let rows = claim
        .lines
        .iter()
        .zip(&priced.lines)
        .enumerate()
        .map(|(i, (line, p))| {
            Ok(Row {
                submission_id: id,
                version,
                line_no: i32::try_from(i)
                    .map_err(|_| StoreError::invalid("/lines", "too many lines"))?,
                person_ref: &line.person_ref,
                date: line.date,
                item: line.item.as_str(),
                session_type: line.session_type.map(SessionType::as_str),
                quantity_quarters: quarters(line.quantity),
                need_band: &line.need_band,
                unit_price_pence: line.unit_price_pence,
                amount_pence: line.amount_pence,
                accepted_quantity_quarters: quarters(p.accepted_quantity),
                accepted_unit_price_pence: p.accepted_unit_price_pence,
                accepted_amount_pence: p.accepted_amount_pence,
                accepted_need_band: p.accepted_need_band.as_deref(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    for chunk in rows.chunks(INSERT_CHUNK) {
        crate::insert_rows!(conn, claim_lines::table, chunk)?;
    }
    diesel::insert_into(claim_totals::table)
        .values((
            claim_totals::submission_id.eq(id),
            claim_totals::version.eq(version),
            claim_totals::claimed_total_pence.eq(priced.claimed_total_pence),
            claim_totals::accepted_total_pence.eq(priced.accepted_total_pence),
        ))
        .execute(conn)?;
    hold_units(conn, id, claim, priced, live)
}

/// The units this claim holds: those of its accepted lines, while it is live. The unique
/// key makes a concurrent claim for the same unit fail (and be priced again).
fn hold_units(
    conn: &mut DbConnection,
    id: &str,
    claim: &ClaimInput,
    priced: &PricedClaim,
    live: bool,
) -> Result<(), StoreError> {
    diesel::delete(claimed_units::table.filter(claimed_units::submission_id.eq(id)))
        .execute(conn)?;
    if !live {
        return Ok(());
    }
    let units: Vec<_> = claim
        .lines
        .iter()
        .zip(&priced.lines)
        .filter(|(_, p)| p.accepted_quantity > 0.0)
        .map(|(line, _)| {
            (
                claimed_units::person_ref.eq(line.person_ref.as_str()),
                claimed_units::date.eq(line.date),
                claimed_units::session_key.eq(session_key(line.session_type)),
                claimed_units::item.eq(line.item.as_str()),
                claimed_units::submission_id.eq(id),
            )
        })
        .collect();
    for chunk in units.chunks(INSERT_CHUNK) {
        crate::insert_rows!(conn, claimed_units::table, chunk)?;
    }
    Ok(())
}

pub type Render = dyn Fn(&ClaimView) -> Result<String, StoreError>;

/// Prices a claim against stored state; stores nothing.
pub fn validate(
    conn: &mut DbConnection,
    scope: Option<&str>,
    claim: &ClaimInput,
    today: NaiveDate,
) -> Result<PricedClaim, StoreError> {
    let contract = contracts::visible(conn, &claim.contract_id, scope)?;
    price(conn, &contract, claim, today, None)
}

/// Stores a new claim (version 1) whatever its findings.
pub fn submit(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: Option<&str>,
    claim: ClaimInput,
    today: NaiveDate,
    keyed: Option<(&KeyedRequest, &Render)>,
) -> Result<ClaimView, StoreError> {
    let contract = contracts::visible(conn, &claim.contract_id, scope)?;
    let header = header(&contract, &claim);
    submissions::with_retries(conn, |conn| {
        submissions::refuse_duplicate(conn, &header)?;
        let priced = price(conn, &contract, &claim, today, None)?;
        let draft = draft(&claim, &priced)?;
        let live = priced.status != SubmissionStatus::Rejected;
        let finish = |conn: &mut DbConnection, stored: &StoredVersion| {
            write_lines(conn, &stored.envelope.id, 1, &claim, &priced, live)?;
            if let Some((request, render)) = keyed {
                idempotency::complete(
                    conn,
                    request,
                    201,
                    &render(&view(
                        stored.clone(),
                        &claim,
                        &priced,
                        ClaimState::default(),
                    ))?,
                )?;
            }
            Ok(())
        };
        // A lost race for the period is Duplicate; one for a unit is retried above.
        let stored = submissions::create(conn, actor, &header, draft, &finish)?;
        Ok(view(stored, &claim, &priced, ClaimState::default()))
    })
}

fn view(
    stored: StoredVersion,
    claim: &ClaimInput,
    priced: &PricedClaim,
    state: ClaimState,
) -> ClaimView {
    ClaimView {
        lines: claim
            .lines
            .iter()
            .zip(&priced.lines)
            .map(|(claimed, accepted)| PricedClaimLine {
                claimed: claimed.clone(),
                accepted: accepted.clone(),
            })
            .collect(),
        claimed_total_pence: priced.claimed_total_pence,
        accepted_total_pence: priced.accepted_total_pence,
        state,
        stored,
    }
}

/// Stores an amendment as the next version and prices it again. A paid claim cannot be
/// amended (SUB-005, 409).
pub fn amend(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: Option<&str>,
    id: &str,
    if_match: &str,
    claim: ClaimInput,
    today: NaiveDate,
) -> Result<ClaimView, StoreError> {
    let seen =
        submissions::get_version(conn, KIND, id, None, scope)?.ok_or(StoreError::NotFound)?;
    let seen_version = seen.envelope.current_version;
    submissions::check_amendment(
        &seen,
        if_match,
        &claim.contract_id,
        claim.period_start,
        "/period_start",
    )?;
    if seen.envelope.status == SubmissionStatus::Paid {
        return Err(StoreError::conflict(
            "SUB-005: a paid claim cannot be amended",
            "",
            "the claim is paid",
        ));
    }
    let contract = contracts::visible(conn, &claim.contract_id, scope)?;
    submissions::refuse_late_amendment(&seen, contract.terms.correction_window_days, today)?;
    submissions::with_retries(conn, |conn| {
        let priced = price(conn, &contract, &claim, today, Some(id))?;
        let draft = draft(&claim, &priced)?;
        let live = draft.status() != SubmissionStatus::Rejected;
        let finish = |conn: &mut DbConnection, stored: &StoredVersion| {
            write_lines(conn, id, stored.envelope.version, &claim, &priced, live)?;
            // A new version needs a new decision.
            diesel::delete(claim_states::table.find(id)).execute(conn)?;
            Ok(())
        };
        let stored =
            submissions::amend(conn, actor, KIND, id, scope, seen_version, draft, &finish)?;
        Ok(view(stored, &claim, &priced, ClaimState::default()))
    })
}
