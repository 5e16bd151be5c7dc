//! What the claim rules read of stored state, and claims drafted from registers.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Text};

use dayops_domain::agreement::AgreementInput;
use dayops_domain::calendar::payment_period_containing;
use dayops_domain::claim::{
    draft_claim, price_claim, ClaimContext, ClaimInput, ClaimedUnit, PricedClaim, RegisterFact,
};
use dayops_domain::contract::Contract;
use dayops_domain::matrix::MatrixVersion;
use dayops_domain::register::AttendanceStatus;
use dayops_domain::submission::{SubmissionKind, SubmissionStatus};
use dayops_domain::types::{AbsenceReason, Item, SessionType};

use crate::error::{unsigned, vocab, StoreError};
use crate::schema::submissions as submission_rows;
use crate::schema::{claimed_units, register_lines};
use crate::{contracts, reference, DbConnection};

use super::{session_of_key, LOOKUP_CHUNK};

/// The contract's current, not rejected registers overlapping the dates ($1 contract, $2
/// from, $3 to, $4 the register kind, $5 the rejected status), each register's lines read
/// through its primary key by a LATERAL subquery (`OFFSET 0`: not to be flattened into a
/// join that a never-analysed database may drive from `register_lines`).
pub const REGISTER_FACTS_PG: &str = "SELECT l.person_ref, l.date, l.session_type, l.status, \
     l.absence_reason, l.notice_hours, l.one_to_one_quarter_hours, l.transport_journeys, l.meal \
     FROM submissions s \
     CROSS JOIN LATERAL ( \
         SELECT l.* FROM register_lines l \
         WHERE l.submission_id = s.id AND l.version = s.current_version \
         AND l.date BETWEEN $2 AND $3 \
         OFFSET 0 \
     ) l \
     WHERE s.contract_id = $1 AND s.kind = $4 AND s.status <> $5 \
     AND s.period_start <= $3 AND s.period_end >= $2";

/// Units held in other live claims by the given people within the dates ($1 people, $2
/// from, $3 to, $4 a claim to leave out), each person's found through the primary key
/// `(person_ref, date, …)` by a LATERAL subquery.
pub const OTHER_UNITS_PG: &str = "SELECT u.person_ref, u.date, u.session_key, u.item \
     FROM unnest($1::text[]) AS k (person_ref) \
     CROSS JOIN LATERAL ( \
         SELECT u.* FROM claimed_units u \
         WHERE u.person_ref = k.person_ref AND u.date BETWEEN $2 AND $3 \
         OFFSET 0 \
     ) u \
     WHERE u.submission_id <> $4";

/// Register lines of the contract's current, not rejected registers within the period.
fn register_facts(
    conn: &mut DbConnection,
    contract_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<RegisterFact>, StoreError> {
    /// A current register line, as the claim rules read it.
    #[derive(Queryable, Selectable, QueryableByName)]
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
    let rows: Vec<Row> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(REGISTER_FACTS_PG)
            .bind::<Text, _>(contract_id)
            .bind::<Date, _>(from)
            .bind::<Date, _>(to)
            .bind::<Text, _>(SubmissionKind::Register.as_str())
            .bind::<Text, _>(SubmissionStatus::Rejected.as_str())
            .load(pg)?,
        DbConnection::Sqlite(_) => crate::registers::current_register_lines()
            .filter(submission_rows::contract_id.eq(contract_id))
            .filter(register_lines::date.between(from, to))
            .select(Row::as_select())
            .load(conn)?,
    };
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
    #[derive(QueryableByName)]
    #[diesel(table_name = claimed_units)]
    struct Unit {
        person_ref: String,
        date: NaiveDate,
        session_key: String,
        item: String,
    }
    let mut rows: Vec<Unit> = Vec::new();
    match conn {
        DbConnection::Postgresql(pg) => {
            rows = diesel::sql_query(OTHER_UNITS_PG)
                .bind::<Array<Text>, _>(persons)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .bind::<Text, _>(exclude.unwrap_or(""))
                .load(pg)?;
        }
        DbConnection::Sqlite(_) => {
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
                rows.extend(
                    query
                        .load::<(String, NaiveDate, String, String)>(conn)?
                        .into_iter()
                        .map(|(person_ref, date, session_key, item)| Unit {
                            person_ref,
                            date,
                            session_key,
                            item,
                        }),
                );
            }
        }
    }
    let mut units = Vec::with_capacity(rows.len());
    for Unit {
        person_ref,
        date,
        session_key,
        item,
    } in rows
    {
        units.push(ClaimedUnit {
            person_ref,
            date,
            session_type: session_of_key(&session_key)?,
            item: vocab("claimed_units.item", &item, Item::parse)?,
        });
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
