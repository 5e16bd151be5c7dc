//! Claims: priced by the council from the matrix, checked against registers and every
//! other live claim, then decided and paid.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::audit::Actor;
use dayops_domain::calendar::payment_period_containing;
use dayops_domain::claim::{
    draft_claim, price_claim, ClaimContext, ClaimInput, ClaimLine, ClaimedUnit, PricedClaim,
    PricedLine, RegisterFact,
};
use dayops_domain::contract::Contract;
use dayops_domain::finding::Report;
use dayops_domain::register::AttendanceStatus;
use dayops_domain::submission::{SubmissionKind, SubmissionStatus};
use dayops_domain::types::{AbsenceReason, Item, SessionType};

use crate::error::{to_json_value, vocab, StoreError};
use crate::idempotency::{self, KeyedRequest};
use crate::schema::submissions as submission_rows;
use crate::schema::{claim_lines, claim_states, claim_totals, claimed_units, register_lines};
use crate::submissions::{self, Draft, Header, StoredVersion};
use crate::{contracts, now, reference, utc, write_transaction, DbConnection};

const KIND: SubmissionKind = SubmissionKind::Claim;
const INSERT_CHUNK: usize = 2_000;
const LOOKUP_CHUNK: usize = 5_000;

/// A line as stored: what was claimed and what the council accepted.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PricedClaimLine {
    #[serde(flatten)]
    pub claimed: ClaimLine,
    #[serde(flatten)]
    pub accepted: PricedLine,
}

/// Decision and payment, once made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClaimState {
    /// `approve` or `reject`.
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub remittance_ref: Option<String>,
    pub paid_on: Option<NaiveDate>,
}

/// A version of a claim with its priced lines.
#[derive(Debug, Clone)]
pub struct ClaimView {
    pub stored: StoredVersion,
    pub lines: Vec<PricedClaimLine>,
    pub claimed_total_pence: i64,
    pub accepted_total_pence: i64,
    pub state: ClaimState,
}

fn session_key(session_type: Option<SessionType>) -> &'static str {
    session_type.map_or("-", SessionType::as_str)
}

fn quarters(quantity: f64) -> i64 {
    (quantity * 4.0).round() as i64
}

/// Register lines of the contract's current, not rejected registers within the period.
fn register_facts(
    conn: &mut DbConnection,
    contract_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<RegisterFact>, StoreError> {
    type Row = (
        String,
        NaiveDate,
        String,
        String,
        Option<String>,
        Option<i32>,
        Option<i32>,
        i32,
        bool,
    );
    let rows: Vec<Row> = crate::registers::current_register_lines()
        .filter(submission_rows::contract_id.eq(contract_id))
        .filter(register_lines::date.between(from, to))
        .select((
            register_lines::person_ref,
            register_lines::date,
            register_lines::session_type,
            register_lines::status,
            register_lines::absence_reason,
            register_lines::notice_hours,
            register_lines::one_to_one_quarter_hours,
            register_lines::transport_journeys,
            register_lines::meal,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(person_ref, date, session_type, status, reason, notice, quarters, journeys, meal)| {
                Ok(RegisterFact {
                    person_ref,
                    date,
                    session_type: vocab(
                        "register_lines.session_type",
                        &session_type,
                        SessionType::parse,
                    )?,
                    status: vocab("register_lines.status", &status, AttendanceStatus::parse)?,
                    absence_reason: reason
                        .map(|r| vocab("register_lines.absence_reason", &r, AbsenceReason::parse))
                        .transpose()?,
                    notice_hours: notice.and_then(|n| u32::try_from(n).ok()),
                    one_to_one_quarters: quarters.and_then(|q| u32::try_from(q).ok()).unwrap_or(0),
                    transport_journeys: u32::try_from(journeys).unwrap_or(0),
                    meal,
                })
            },
        )
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
                session_type: SessionType::parse(&session),
                item: vocab("claimed_units.item", &item, Item::parse)?,
            });
        }
    }
    Ok(units)
}

/// Loads what the claim rules look at and prices `claim`.
fn price(
    conn: &mut DbConnection,
    contract: &Contract,
    claim: &ClaimInput,
    today: NaiveDate,
    exclude: Option<&str>,
) -> Result<PricedClaim, StoreError> {
    let (versions, agreements) = reference::rules_reference(conn, &contract.id)?;
    let (from, to) = span(claim);
    let registers = register_facts(conn, &contract.id, from, to)?;
    let persons: Vec<&str> = claim
        .lines
        .iter()
        .map(|l| l.person_ref.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let others = other_units(conn, &persons, from, to, exclude)?;
    let ctx = ClaimContext {
        contract: &contract.terms,
        matrix: &versions,
        agreements: &agreements,
        registers: &registers,
        other_claims: &others,
        today,
    };
    Ok(price_claim(claim, &ctx))
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
    let (versions, agreements) = reference::rules_reference(conn, &contract.id)?;
    let registers = register_facts(conn, &contract.id, period.0, period.1)?;
    let persons: Vec<&str> = registers
        .iter()
        .map(|f| f.person_ref.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let others = other_units(conn, &persons, period.0, period.1, None)?;
    let ctx = ClaimContext {
        contract: &contract.terms,
        matrix: &versions,
        agreements: &agreements,
        registers: &registers,
        other_claims: &others,
        today,
    };
    Ok(draft_claim(&contract.id, period, &ctx))
}

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
