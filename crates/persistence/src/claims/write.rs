//! Claims in the submission pipeline, and the rows a version keeps beside it.

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::audit::Actor;
use dayops_domain::claim::{ClaimInput, PricedClaim};
use dayops_domain::contract::Contract;
use dayops_domain::finding::Report;
use dayops_domain::submission::{SubmissionKind, SubmissionStatus};
use dayops_domain::types::{Quantity, SessionType};

use crate::error::{to_json, StoreError};
use crate::pipeline::{keyed_by_start, Kind};
use crate::schema::{claim_lines, claim_states, claim_totals, claimed_units};
use crate::submissions::StoredVersion;
use crate::DbConnection;

use super::pricing::price;
use super::{session_key, INSERT_CHUNK, KIND};

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
        findings: String,
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
                quantity_quarters: i64::from(line.quantity.quarters()),
                need_band: &line.need_band,
                unit_price_pence: line.unit_price_pence,
                amount_pence: line.amount_pence,
                accepted_quantity_quarters: i64::from(p.accepted_quantity.quarters()),
                accepted_unit_price_pence: p.accepted_unit_price_pence,
                accepted_amount_pence: p.accepted_amount_pence,
                accepted_need_band: p.accepted_need_band.as_deref(),
                findings: to_json(&p.findings)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    crate::copy_rows!(conn, claim_lines::table, &rows, INSERT_CHUNK)?;
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
        .filter(|(_, p)| p.accepted_quantity > Quantity::ZERO)
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

/// Claims in the submission pipeline: the assessment is the claim priced by the council.
pub struct Claims;

impl Kind for Claims {
    const KIND: SubmissionKind = KIND;
    type Input = ClaimInput;
    type Assessment = PricedClaim;

    fn accepted_pence(priced: &PricedClaim) -> Option<i64> {
        Some(priced.accepted_total_pence)
    }

    fn contract_id(claim: &ClaimInput) -> &str {
        &claim.contract_id
    }

    fn period(claim: &ClaimInput) -> Result<(NaiveDate, NaiveDate, String), StoreError> {
        keyed_by_start(claim.period_start, claim.period_end)
    }

    fn assess(
        conn: &mut DbConnection,
        contract: &Contract,
        claim: &ClaimInput,
        today: NaiveDate,
        amending: Option<&str>,
    ) -> Result<PricedClaim, StoreError> {
        price(conn, contract, claim, today, amending)
    }

    fn report(priced: &PricedClaim) -> Report {
        Report::of(priced.findings.clone())
    }

    fn status(_: &ClaimInput, priced: &PricedClaim) -> SubmissionStatus {
        priced.status
    }

    fn write_rows(
        conn: &mut DbConnection,
        version: &StoredVersion,
        claim: &ClaimInput,
        priced: &PricedClaim,
    ) -> Result<(), StoreError> {
        let live = version.envelope.status != SubmissionStatus::Rejected;
        write_lines(
            conn,
            &version.envelope.id,
            version.envelope.version,
            claim,
            priced,
            live,
        )
    }

    const DERIVED_ACTION: Option<&'static str> = Some("price");

    fn derived_sha256(
        conn: &mut DbConnection,
        id: &str,
        version: i32,
    ) -> Result<Option<String>, StoreError> {
        super::read::priced_sha256(conn, id, version)
    }

    /// A new version needs a new decision.
    fn after_amendment(
        conn: &mut DbConnection,
        _: &Actor,
        version: &StoredVersion,
    ) -> Result<(), StoreError> {
        diesel::delete(claim_states::table.find(&version.envelope.id)).execute(conn)?;
        Ok(())
    }

    /// The domain's lifecycle says whether a claim may still be amended.
    fn refuse_amendment(current: &StoredVersion) -> Result<(), StoreError> {
        Ok(dayops_domain::lifecycle::may_amend(
            current.envelope.status,
        )?)
    }
}
