//! What the claim rules read of stored state, and claims drafted from registers.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::agreement::AgreementInput;
use dayops_domain::calendar::payment_period_containing;
use dayops_domain::claim::{
    draft_claim, price_claim, ClaimContext, ClaimInput, ClaimedUnit, PricedClaim, RegisterFact,
};
use dayops_domain::contract::Contract;
use dayops_domain::matrix::MatrixVersion;
use dayops_domain::register::AttendanceStatus;
use dayops_domain::types::{AbsenceReason, Item, SessionType};

use crate::error::{unsigned, vocab, StoreError};
use crate::schema::submissions as submission_rows;
use crate::schema::{claimed_units, register_lines};
use crate::{contracts, reference, DbConnection};

use super::{session_of_key, LOOKUP_CHUNK};

/// Register lines of the contract's current, not rejected registers within the period.
fn register_facts(
    conn: &mut DbConnection,
    contract_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<RegisterFact>, StoreError> {
    /// A current register line, as the claim rules read it.
    #[derive(Queryable, Selectable)]
    #[diesel(table_name = register_lines)]
    struct Row {
        person_ref: String,
        date: NaiveDate,
        session_type: String,
        status: String,
        absence_reason: Option<String>,
        notice_hours: Option<i32>,
        one_to_one_quarter_hours: Option<i32>,
        transport_journeys: i32,
        meal: bool,
    }
    let rows: Vec<Row> = crate::registers::current_register_lines()
        .filter(submission_rows::contract_id.eq(contract_id))
        .filter(register_lines::date.between(from, to))
        .select(Row::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(RegisterFact {
                session_type: vocab(
                    "register_lines.session_type",
                    &row.session_type,
                    SessionType::parse,
                )?,
                status: vocab(
                    "register_lines.status",
                    &row.status,
                    AttendanceStatus::parse,
                )?,
                absence_reason: row
                    .absence_reason
                    .map(|r| vocab("register_lines.absence_reason", &r, AbsenceReason::parse))
                    .transpose()?,
                notice_hours: row
                    .notice_hours
                    .map(|n| unsigned("register_lines.notice_hours", n))
                    .transpose()?,
                one_to_one_quarters: row
                    .one_to_one_quarter_hours
                    .map(|q| unsigned("register_lines.one_to_one_quarter_hours", q))
                    .transpose()?
                    .unwrap_or(0),
                transport_journeys: unsigned(
                    "register_lines.transport_journeys",
                    row.transport_journeys,
                )?,
                meal: row.meal,
                person_ref: row.person_ref,
                date: row.date,
            })
        })
        .collect()
}

/// Units the people of `claim` hold in other live claims, under any provider.
fn other_units(
    conn: &mut DbConnection,
    persons: &[&str],
    from: NaiveDate,
    to: NaiveDate,
    exclude: Option<&str>,
) -> Result<Vec<ClaimedUnit>, StoreError> {
    let mut units = Vec::new();
    for chunk in persons.chunks(LOOKUP_CHUNK) {
        let mut query = claimed_units::table
            .filter(claimed_units::person_ref.eq_any(chunk))
            .filter(claimed_units::date.between(from, to))
            .select((
                claimed_units::person_ref,
                claimed_units::date,
                claimed_units::session_key,
                claimed_units::item,
            ))
            .into_boxed();
        if let Some(exclude) = exclude {
            query = query.filter(claimed_units::submission_id.ne(exclude.to_string()));
        }
        for (person_ref, date, session, item) in
            query.load::<(String, NaiveDate, String, String)>(conn)?
        {
            units.push(ClaimedUnit {
                person_ref,
                date,
                session_type: session_of_key(&session)?,
                item: vocab("claimed_units.item", &item, Item::parse)?,
            });
        }
    }
    Ok(units)
}

/// What the claim rules read of stored state for a contract's claims from `from` to `to`.
struct RuleData {
    versions: Vec<MatrixVersion<String>>,
    agreements: Vec<AgreementInput>,
    registers: Vec<RegisterFact>,
    others: Vec<ClaimedUnit>,
}

impl RuleData {
    /// Loads it: the people are those of `people` (a claim's lines, or the registers' for a
    /// draft, when `people` is `None`); `exclude` is a claim being amended.
    fn load(
        conn: &mut DbConnection,
        contract: &Contract,
        (from, to): (NaiveDate, NaiveDate),
        people: Option<&ClaimInput>,
        exclude: Option<&str>,
    ) -> Result<RuleData, StoreError> {
        let (versions, agreements) = reference::rules_reference(conn, &contract.id)?;
        let registers = register_facts(conn, &contract.id, from, to)?;
        let persons: Vec<&str> = match people {
            Some(claim) => claim.lines.iter().map(|l| l.person_ref.as_str()).collect(),
            None => registers.iter().map(|f| f.person_ref.as_str()).collect(),
        };
        let persons: Vec<&str> = persons
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let others = other_units(conn, &persons, from, to, exclude)?;
        Ok(RuleData {
            versions,
            agreements,
            registers,
            others,
        })
    }

    fn context<'a>(&'a self, contract: &'a Contract, today: NaiveDate) -> ClaimContext<'a, String> {
        ClaimContext {
            contract: &contract.terms,
            matrix: &self.versions,
            agreements: &self.agreements,
            registers: &self.registers,
            other_claims: &self.others,
            today,
        }
    }
}

/// Loads what the claim rules look at and prices `claim`.
pub(super) fn price(
    conn: &mut DbConnection,
    contract: &Contract,
    claim: &ClaimInput,
    today: NaiveDate,
    exclude: Option<&str>,
) -> Result<PricedClaim, StoreError> {
    let data = RuleData::load(conn, contract, span(claim), Some(claim), exclude)?;
    Ok(price_claim(claim, &data.context(contract, today)))
}

/// The dates a claim's rules look at: its period and every line's date.
fn span(claim: &ClaimInput) -> (NaiveDate, NaiveDate) {
    let from = claim
        .lines
        .iter()
        .map(|l| l.date)
        .chain([claim.period_start])
        .min()
        .unwrap_or(claim.period_start);
    let to = claim
        .lines
        .iter()
        .map(|l| l.date)
        .chain([claim.period_end])
        .max()
        .unwrap_or(claim.period_end);
    (from, to)
}

/// A claim priced from the registers of the payment period that starts on `period_start`.
pub fn draft_from_registers(
    conn: &mut DbConnection,
    scope: Option<&str>,
    contract_id: &str,
    period_start: NaiveDate,
    today: NaiveDate,
) -> Result<ClaimInput, StoreError> {
    let contract = contracts::visible(conn, contract_id, scope)?;
    let period = payment_period_containing(
        contract.terms.payment_period,
        contract.terms.payment_anchor_date,
        period_start,
    )
    .filter(|(start, _)| *start == period_start)
    .ok_or_else(|| {
        StoreError::invalid(
            "/query/period_start",
            format!(
                "must start a {} payment period of the contract",
                contract.terms.payment_period
            ),
        )
    })?;
    let data = RuleData::load(conn, &contract, period, None, None)?;
    let ctx = data.context(&contract, today);
    Ok(draft_claim(&contract.id, period, &ctx))
}
