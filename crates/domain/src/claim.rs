//! Matrix-rate claims (SPEC §4.2): priced by the council from the rate matrix, for the
//! band assessed on each date, and checked against registers, the plan and other claims.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agreement::AgreementInput;
use crate::calendar::payment_period_containing;
use crate::checks::{self, TimeLimit};
use crate::contract::ContractInput;
use crate::error::FieldErrors;
use crate::finding::{Finding, Severity};
use crate::matrix::{lookup, offers, MatrixVersion, RateQuery};
use crate::register::AttendanceStatus;
use crate::rules::Rule;
use crate::submission::SubmissionStatus;
use crate::types::{AbsenceReason, Item, Quantity, SessionType};

/// One priced unit of service as the provider claims it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimLine {
    #[schema(example = "P100234")]
    pub person_ref: String,
    pub date: NaiveDate,
    pub item: Item,
    /// Required for sessions, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
    pub quantity: Quantity,
    /// The band the provider claims at.
    #[schema(example = "high")]
    pub need_band: String,
    #[schema(example = 5000)]
    pub unit_price_pence: i64,
    #[schema(example = 5000)]
    pub amount_pence: i64,
}

/// A claim for one payment period of a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimInput {
    pub contract_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: Vec<ClaimLine>,
    pub total_pence: i64,
    /// Warning codes the provider acknowledges (in an amendment).
    #[serde(default)]
    pub acknowledged_warnings: Vec<String>,
}

/// A line's quantity in quarter-units, when its item allows it: hours in quarters, every
/// other item in wholes.
fn quarters(line: &ClaimLine) -> Option<u64> {
    (line.item == Item::OneToOneHour || line.quantity.is_whole())
        .then_some(u64::from(line.quantity.quarters()))
}

/// `unit_pence` × quantity, rounded half up to whole pence (only hours can fall between).
pub fn amount_of(quarter_units: u64, unit_pence: i64) -> i64 {
    let q = i64::try_from(quarter_units).unwrap_or(i64::MAX);
    (unit_pence.saturating_mul(q) + 2) / 4
}

impl ClaimInput {
    /// What makes a claim malformed (422, nothing stored), as opposed to findings.
    pub fn check_shape(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        for (i, line) in self.lines.iter().enumerate() {
            errors.check(
                quarters(line).is_none(),
                format!("/lines/{i}/quantity"),
                "must be a non-negative whole number",
            );
            match (line.item, line.session_type) {
                (Item::Session, None) => errors.push(
                    format!("/lines/{i}/session_type"),
                    "is required for a session",
                ),
                (Item::Session, Some(_)) | (_, None) => {}
                (_, Some(_)) => errors.push(
                    format!("/lines/{i}/session_type"),
                    "applies to sessions only",
                ),
            }
            errors.check(
                line.unit_price_pence < 0,
                format!("/lines/{i}/unit_price_pence"),
                "must not be negative",
            );
            errors.check(
                line.amount_pence < 0,
                format!("/lines/{i}/amount_pence"),
                "must not be negative",
            );
        }
        errors
    }
}

/// What the current, not rejected, register of a period recorded for a person's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterFact {
    pub person_ref: String,
    pub date: NaiveDate,
    pub session_type: SessionType,
    pub status: AttendanceStatus,
    pub absence_reason: Option<AbsenceReason>,
    pub notice_hours: Option<u32>,
    pub one_to_one_quarters: u32,
    pub transport_journeys: u32,
    pub meal: bool,
}

/// A unit already claimed in another claim that is not rejected or declined.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimedUnit {
    pub person_ref: String,
    pub date: NaiveDate,
    pub session_type: Option<SessionType>,
    pub item: Item,
}

pub struct ClaimContext<'a, Id> {
    pub contract: &'a ContractInput,
    pub matrix: &'a [MatrixVersion<Id>],
    pub agreements: &'a [AgreementInput],
    /// Register lines of the claim's period (current versions of registers not rejected).
    pub registers: &'a [RegisterFact],
    /// Units in other live claims, under any provider.
    pub other_claims: &'a [ClaimedUnit],
    pub today: NaiveDate,
}

/// The council's price for one line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PricedLine {
    pub accepted_quantity: Quantity,
    pub accepted_unit_price_pence: i64,
    /// `accepted_quantity` × `accepted_unit_price_pence`, rounded half up to whole pence
    /// (only quarter-hours can fall between pence: 0.25 h at 1,801p is 450.25p, paid
    /// 450p; 0.5 h is 900.5p, paid 901p). 0 for a line with an error finding.
    pub accepted_amount_pence: i64,
    /// The band the council prices the line at: the one assessed on its date. Absent when
    /// no agreement is in force that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_need_band: Option<String>,
    /// The findings about this line (those of the report that point into it), kept beside
    /// the line so that nothing has to find them again from their pointers.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PricedClaim {
    pub lines: Vec<PricedLine>,
    pub findings: Vec<Finding>,
    pub claimed_total_pence: i64,
    pub accepted_total_pence: i64,
    pub status: SubmissionStatus,
}

/// Whether an absence recorded on a register is paid under the contract's policy.
pub fn chargeable(
    contract: &ContractInput,
    reason: Option<AbsenceReason>,
    notice_hours: Option<u32>,
) -> bool {
    reason.is_some_and(|r| contract.absence_policy.chargeable_reasons.contains(&r))
        && notice_hours.unwrap_or(0) < contract.absence_policy.min_notice_hours
}

fn week_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

fn at(i: usize, field: &str) -> String {
    if field.is_empty() {
        format!("/lines/{i}")
    } else {
        format!("/lines/{i}/{field}")
    }
}

/// SUB-001 and SUB-003 for a claim.
fn check_period(
    claim: &ClaimInput,
    ctx: &ClaimContext<'_, impl Sized>,
    findings: &mut Vec<Finding>,
) {
    let contract = ctx.contract;
    let period = payment_period_containing(
        contract.payment_period,
        contract.payment_anchor_date,
        claim.period_start,
    );
    if period != Some((claim.period_start, claim.period_end)) {
        findings.push(Finding::of(
            Rule::Sub001,
            "/period_start",
            format!(
                "the claim must cover exactly one {} payment period",
                contract.payment_period
            ),
        ));
    } else if claim.period_end >= ctx.today {
        findings.push(Finding::of(
            Rule::Sub001,
            "/period_end",
            "the payment period has not ended yet",
        ));
    }
    findings.extend(checks::contract_not_active(contract));
    findings.extend(checks::period_outside_contract(
        contract,
        (claim.period_start, claim.period_end),
    ));
}

/// Prices and checks every line. Lines with an error are accepted at nothing.
pub fn price_claim<Id>(claim: &ClaimInput, ctx: &ClaimContext<'_, Id>) -> PricedClaim {
    let contract = ctx.contract;
    let mut findings = Vec::new();
    check_period(claim, ctx, &mut findings);
    let claim_level_error = findings.iter().any(|f| f.severity == Severity::Error);

    let agreements: BTreeMap<&str, &AgreementInput> = ctx
        .agreements
        .iter()
        .map(|a| (a.person_ref.as_str(), a))
        .collect();
    let others: BTreeSet<&ClaimedUnit> = ctx.other_claims.iter().collect();
    // Register lines by person and day, looked up once per claim line.
    let mut registers: BTreeMap<(&str, NaiveDate), Vec<&RegisterFact>> = BTreeMap::new();
    for fact in ctx.registers {
        registers
            .entry((fact.person_ref.as_str(), fact.date))
            .or_default()
            .push(fact);
    }
    // Enablement's time limit is the council's to act on: a warning at the first session
    // past it, the line still priced. (REG-013 stays with the registers behind the claim,
    // which already warned of an overdue review.)
    let sessions = claim.lines.iter().enumerate().filter_map(|(i, line)| {
        (line.item == Item::Session).then_some((i, line.person_ref.as_str(), line.date))
    });
    let mut overruns: BTreeMap<usize, Finding> =
        checks::time_limits(&[TimeLimit::Enablement], sessions, &agreements, at)
            .into_iter()
            .collect();
    let mut seen = BTreeSet::new();
    let mut tally = WeekTally::new(contract.over_delivery_tolerance_pct);
    let mut priced = Vec::with_capacity(claim.lines.len());
    let mut rejected_lines = 0usize;

    for (i, line) in claim.lines.iter().enumerate() {
        let mut line_findings: Vec<Finding> = Vec::new();
        let q = quarters(line).unwrap_or(0);
        let line_at = |field: &str| at(i, field);
        line_findings.extend(check_in_period(claim, line, line_at));
        let unit = ClaimedUnit {
            person_ref: line.person_ref.clone(),
            date: line.date,
            session_type: line.session_type,
            item: line.item,
        };
        let first_in_claim = seen.insert(unit.clone());
        line_findings.extend(check_unit_claimed_once(
            first_in_claim,
            others.contains(&unit),
            line_at,
        ));
        let mut price = None;
        let mut assessed_band = None;
        match agreements.get(line.person_ref.as_str()) {
            None => line_findings.push(checks::no_agreement(line_at)),
            Some(agreement) => {
                // The band is assessed only while the agreement is in force (AGR-002).
                let band = agreement
                    .band_on(line.date)
                    .filter(|_| agreement.in_force_on(line.date));
                assessed_band = band.map(str::to_string);
                line_findings.extend(checks::outside_agreement(agreement, line.date, line_at));
                line_findings.extend(checks::agreement_suspended(agreement, line.date, line_at));
                let offered = check_offered(line, ctx, line_at);
                let is_offered = offered.is_none();
                line_findings.extend(offered);
                if let (Some(band), true) = (band, is_offered) {
                    price = price_at_matrix(line, band, ctx, line_at, &mut line_findings);
                }
                // Distinct sessions: a duplicate (CLM-003) does not count twice against the plan.
                if line.item == Item::Session && first_in_claim {
                    line_findings.extend(tally.check_plan(line, agreement, line_at));
                }
                line_findings.extend(tally.check_authorisations(line, q, agreement, line_at));
            }
        }
        line_findings.extend(overruns.remove(&i));
        line_findings.extend(check_amount(line, q, line_at));
        let facts = registers
            .get(&(line.person_ref.as_str(), line.date))
            .map_or(&[][..], Vec::as_slice);
        check_registers(i, line, q, contract, facts, &mut line_findings);
        let rejected = line_findings.iter().any(|f| f.severity == Severity::Error);
        let accepted = match (rejected || claim_level_error, price) {
            (false, Some(unit)) => Some(unit),
            _ => None,
        };
        if accepted.is_none() {
            rejected_lines += 1;
        }
        findings.extend(line_findings.iter().cloned());
        priced.push(PricedLine {
            accepted_quantity: accepted.map_or(Quantity::ZERO, |_| line.quantity),
            accepted_unit_price_pence: price.unwrap_or(0),
            accepted_amount_pence: accepted.map_or(0, |unit| amount_of(q, unit)),
            accepted_need_band: assessed_band,
            findings: line_findings,
        });
    }

    findings.extend(check_total(claim));
    let status = if claim_level_error || rejected_lines == claim.lines.len() {
        SubmissionStatus::Rejected
    } else if rejected_lines > 0 {
        SubmissionStatus::PartiallyAccepted
    } else {
        SubmissionStatus::Accepted
    };
    PricedClaim {
        accepted_total_pence: priced.iter().map(|p| p.accepted_amount_pence).sum(),
        claimed_total_pence: claim.total_pence,
        lines: priced,
        findings,
        status,
    }
}

/// CLM-006: a line's date falls inside the claim period.
fn check_in_period(
    claim: &ClaimInput,
    line: &ClaimLine,
    at: impl Fn(&str) -> String,
) -> Option<Finding> {
    (line.date < claim.period_start || line.date > claim.period_end).then(|| {
        Finding::of(
            Rule::Clm006,
            at("date"),
            "the date is outside the claim period",
        )
    })
}

/// CLM-003: a unit (person, day, item, session) is claimed once, in this claim or any other.
fn check_unit_claimed_once(
    first_in_claim: bool,
    in_another_claim: bool,
    at: impl Fn(&str) -> String,
) -> Option<Finding> {
    let message = if !first_in_claim {
        "the same unit appears earlier in this claim"
    } else if in_another_claim {
        "the same unit is in another claim"
    } else {
        return None;
    };
    Some(Finding::of(Rule::Clm003, at(""), message))
}

/// AGR-004: the contract offers the line's item (and session type) on its date.
fn check_offered<Id>(
    line: &ClaimLine,
    ctx: &ClaimContext<'_, Id>,
    at: impl Fn(&str) -> String,
) -> Option<Finding> {
    let offered = offers(ctx.matrix, line.date, line.item, line.session_type)
        && line
            .session_type
            .is_none_or(|st| ctx.contract.offers_session_type(st));
    let field = if line.item == Item::Session {
        "session_type"
    } else {
        "item"
    };
    (!offered).then(|| {
        Finding::of(
            Rule::Agr004,
            at(field),
            "the contract does not offer this on that date",
        )
    })
}

/// RATE-001 to RATE-003: the council's price for the line is the matrix cell for the band
/// assessed on its date, whatever band and price the provider claimed at.
fn price_at_matrix<Id>(
    line: &ClaimLine,
    band: &str,
    ctx: &ClaimContext<'_, Id>,
    at: impl Fn(&str) -> String,
    findings: &mut Vec<Finding>,
) -> Option<i64> {
    if band != line.need_band {
        findings.push(Finding::of(
            Rule::Rate003,
            at("need_band"),
            format!("the band assessed on that date is {band}; priced at it"),
        ));
    }
    let query = RateQuery {
        date: line.date,
        item: line.item,
        need_band: band,
        session_type: line.session_type,
        day_category: ctx.contract.day_category(line.date),
    };
    let Some((_, cell)) = lookup(ctx.matrix, &query) else {
        findings.push(Finding::of(
            Rule::Rate001,
            at("need_band"),
            "no rate cell prices this band, item, session type and day category on that date",
        ));
        return None;
    };
    if cell.rate_pence != line.unit_price_pence {
        findings.push(Finding::of(
            Rule::Rate002,
            at("unit_price_pence"),
            format!(
                "the matrix price is {} pence; priced at it",
                cell.rate_pence
            ),
        ));
    }
    Some(cell.rate_pence)
}

/// RATE-004: the line's amount is its quantity × its unit price, rounded half up.
fn check_amount(line: &ClaimLine, q: u64, at: impl Fn(&str) -> String) -> Option<Finding> {
    (amount_of(q, line.unit_price_pence) != line.amount_pence).then(|| {
        Finding::of(
            Rule::Rate004,
            at("amount_pence"),
            "the amount is not quantity × unit price",
        )
    })
}

/// CLM-005: the claim's total is the sum of its line amounts.
fn check_total(claim: &ClaimInput) -> Option<Finding> {
    let claimed_lines: i64 = claim.lines.iter().map(|l| l.amount_pence).sum();
    (claimed_lines != claim.total_pence).then(|| {
        Finding::of(
            Rule::Clm005,
            "/total_pence",
            format!("the total is not the sum of the line amounts ({claimed_lines})"),
        )
    })
}

/// What a person has been claimed for each week so far, for the plan (CLM-007) and the
/// weekly authorisations (AGR-006). Each is reported once, on the line that first crosses
/// its threshold.
struct WeekTally<'a> {
    tolerance_pct: u64,
    sessions: BTreeMap<(&'a str, NaiveDate), u64>,
    /// One-to-one quarter-hours and transport journeys.
    authorised: BTreeMap<(&'a str, NaiveDate), (u64, u64)>,
}

impl<'a> WeekTally<'a> {
    fn new(tolerance_pct: u32) -> Self {
        WeekTally {
            tolerance_pct: u64::from(tolerance_pct),
            sessions: BTreeMap::new(),
            authorised: BTreeMap::new(),
        }
    }

    fn within_tolerance(&self, total: u64, allowed: u64) -> bool {
        total * 100 <= allowed * (100 + self.tolerance_pct)
    }

    /// CLM-007: sessions in the week beyond the plan and its tolerance.
    fn check_plan(
        &mut self,
        line: &'a ClaimLine,
        agreement: &AgreementInput,
        at: impl Fn(&str) -> String,
    ) -> Option<Finding> {
        let count = self
            .sessions
            .entry((line.person_ref.as_str(), week_of(line.date)))
            .or_default();
        *count += 1;
        let count = *count;
        let planned = agreement.planned_sessions.len() as u64;
        (!self.within_tolerance(count, planned) && self.within_tolerance(count - 1, planned)).then(
            || {
                Finding::of(
                    Rule::Clm007,
                    at(""),
                    "sessions this week exceed the plan by more than the tolerance",
                )
            },
        )
    }

    /// AGR-006: one-to-one hours and transport journeys in the week beyond the
    /// authorisation: an error beyond the tolerance, a warning within it.
    fn check_authorisations(
        &mut self,
        line: &'a ClaimLine,
        q: u64,
        agreement: &AgreementInput,
        at: impl Fn(&str) -> String,
    ) -> Option<Finding> {
        let totals = self
            .authorised
            .entry((line.person_ref.as_str(), week_of(line.date)))
            .or_default();
        let (what, before, after, allowed) = match line.item {
            Item::OneToOneHour => {
                let before = totals.0;
                totals.0 += q;
                let allowed = u64::from(agreement.one_to_one_hours_per_week.quarters());
                ("one-to-one hours", before, totals.0, allowed)
            }
            Item::TransportJourney => {
                let before = totals.1;
                totals.1 += q / 4;
                let allowed = u64::from(agreement.transport_journeys_per_week);
                ("transport journeys", before, totals.1, allowed)
            }
            _ => return None,
        };
        if !self.within_tolerance(after, allowed) && self.within_tolerance(before, allowed) {
            Some(Finding::of(
                Rule::Agr006,
                at("quantity"),
                format!("{what} this week exceed the weekly authorisation beyond the tolerance"),
            ))
        } else if after > allowed && before <= allowed && self.within_tolerance(after, allowed) {
            Some(Finding::tolerated(
                Rule::Agr006,
                at("quantity"),
                format!("{what} this week exceed the weekly authorisation, within the tolerance"),
            ))
        } else {
            None
        }
    }
}

/// CLM-001 and CLM-002: every line stands on an attended session or a chargeable absence
/// in the register.
fn check_registers(
    i: usize,
    line: &ClaimLine,
    q: u64,
    contract: &ContractInput,
    facts: &[&RegisterFact],
    findings: &mut Vec<Finding>,
) {
    let facts = facts.iter().copied();
    let missing = || {
        Finding::of(
            Rule::Clm001,
            at(i, ""),
            "no attended session or chargeable absence in the register behind this line",
        )
    };
    match line.item {
        Item::Session => match facts
            .clone()
            .find(|f| Some(f.session_type) == line.session_type)
        {
            Some(f) if f.status == AttendanceStatus::Attended => {}
            Some(f) if f.status == AttendanceStatus::Absent => {
                if !chargeable(contract, f.absence_reason, f.notice_hours) {
                    findings.push(Finding::of(Rule::Clm002,
                        at(i, ""),
                        "the absence is not chargeable: its reason is not in the absence policy, or enough notice was given",
                    ));
                }
            }
            _ => findings.push(missing()),
        },
        item => {
            let attended = facts.filter(|f| f.status == AttendanceStatus::Attended);
            let recorded: u64 = match item {
                Item::OneToOneHour => attended.map(|f| u64::from(f.one_to_one_quarters)).sum(),
                Item::TransportJourney => {
                    attended.map(|f| u64::from(f.transport_journeys) * 4).sum()
                }
                _ => attended.filter(|f| f.meal).count() as u64 * 4,
            };
            if q > recorded {
                findings.push(missing());
            }
        }
    }
}

/// A claim priced from the period's registers, ready to submit: every attended session,
/// chargeable absence, one-to-one hour, journey and meal that the matrix prices and no
/// other live claim holds, at the assessed band's price.
pub fn draft_claim<Id>(
    contract_id: &str,
    period: (NaiveDate, NaiveDate),
    ctx: &ClaimContext<'_, Id>,
) -> ClaimInput {
    let agreements: BTreeMap<&str, &AgreementInput> = ctx
        .agreements
        .iter()
        .map(|a| (a.person_ref.as_str(), a))
        .collect();
    let others: BTreeSet<&ClaimedUnit> = ctx.other_claims.iter().collect();
    let mut lines = Vec::new();
    let mut facts: Vec<&RegisterFact> = ctx
        .registers
        .iter()
        .filter(|f| f.date >= period.0 && f.date <= period.1)
        .collect();
    facts.sort_by(|a, b| {
        (&a.person_ref, a.date, a.session_type).cmp(&(&b.person_ref, b.date, b.session_type))
    });
    let mut per_day: BTreeMap<(&str, NaiveDate), (u64, u64, u64)> = BTreeMap::new();
    for fact in &facts {
        let Some(agreement) = agreements.get(fact.person_ref.as_str()) else {
            continue;
        };
        if !agreement.in_force_on(fact.date) || agreement.suspended_on(fact.date) {
            continue;
        }
        let payable = match fact.status {
            AttendanceStatus::Attended => true,
            AttendanceStatus::Absent => {
                chargeable(ctx.contract, fact.absence_reason, fact.notice_hours)
            }
            AttendanceStatus::ProviderCancelled => false,
        };
        if payable {
            lines.push((
                fact.person_ref.as_str(),
                fact.date,
                Item::Session,
                Some(fact.session_type),
                4,
            ));
        }
        if fact.status == AttendanceStatus::Attended {
            let day = per_day
                .entry((fact.person_ref.as_str(), fact.date))
                .or_default();
            day.0 += u64::from(fact.one_to_one_quarters);
            day.1 += u64::from(fact.transport_journeys) * 4;
            day.2 += if fact.meal { 4 } else { 0 };
        }
    }
    for ((person, date), (hours, journeys, meals)) in per_day {
        for (item, q) in [
            (Item::OneToOneHour, hours),
            (Item::TransportJourney, journeys),
            (Item::Meal, meals),
        ] {
            if q > 0 {
                lines.push((person, date, item, None, q));
            }
        }
    }
    let lines: Vec<ClaimLine> = lines
        .into_iter()
        .filter_map(|(person, date, item, session_type, q)| {
            let unit = ClaimedUnit {
                person_ref: person.to_string(),
                date,
                session_type,
                item,
            };
            if others.contains(&unit) {
                return None;
            }
            let band = agreements.get(person)?.band_on(date)?;
            let query = RateQuery {
                date,
                item,
                need_band: band,
                session_type,
                day_category: ctx.contract.day_category(date),
            };
            let (_, cell) = lookup(ctx.matrix, &query)?;
            Some(ClaimLine {
                person_ref: person.to_string(),
                date,
                item,
                session_type,
                quantity: Quantity::from_quarters(u32::try_from(q).ok()?),
                need_band: band.to_string(),
                unit_price_pence: cell.rate_pence,
                amount_pence: amount_of(q, cell.rate_pence),
            })
        })
        .collect();
    ClaimInput {
        contract_id: contract_id.to_string(),
        period_start: period.0,
        period_end: period.1,
        total_pence: lines.iter().map(|l| l.amount_pence).sum(),
        lines,
        acknowledged_warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::RateCell;
    use crate::types::ContractStatus;
    use crate::types::DayCategory;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cell(
        item: Item,
        band: &str,
        st: Option<SessionType>,
        day: DayCategory,
        pence: i64,
    ) -> RateCell {
        RateCell {
            item,
            need_band: band.into(),
            session_type: st,
            day_category: day,
            rate_pence: pence,
        }
    }

    fn matrix() -> Vec<MatrixVersion<u8>> {
        use DayCategory::*;
        use SessionType::*;
        let version =
            |id, from, to: Option<&str>, high, medium, any, hour, journey, meal| MatrixVersion {
                id,
                effective_from: d(from),
                effective_to: to.map(d),
                cells: vec![
                    cell(Item::Session, "high", Some(Am), Any, high),
                    cell(Item::Session, "medium", Some(Am), Any, medium),
                    cell(Item::Session, "*", Some(Am), Any, any),
                    cell(Item::Session, "high", Some(FullDay), Any, high * 2),
                    cell(Item::OneToOneHour, "*", None, Any, hour),
                    cell(Item::TransportJourney, "*", None, Any, journey),
                    cell(Item::Meal, "*", None, Any, meal),
                ],
            };
        let mut v1 = version(
            1,
            "2025-04-01",
            Some("2026-03-31"),
            5000,
            4000,
            3000,
            1801,
            850,
            450,
        );
        v1.cells
            .push(cell(Item::Session, "high", Some(Am), Weekend, 6000));
        vec![
            v1,
            version(2, "2026-04-01", None, 5200, 4200, 3100, 1850, 870, 460),
        ]
    }

    fn agreement(person: &str, bands: &[(&str, &str)]) -> AgreementInput {
        serde_json::from_value(serde_json::json!({
            "person_ref": person,
            "need_bands": bands.iter().map(|(from, band)| serde_json::json!({"from": from, "band": band})).collect::<Vec<_>>(),
            "planned_sessions": [{"weekday": "monday", "session_type": "am"}, {"weekday": "tuesday", "session_type": "am"}],
            "one_to_one_hours_per_week": 2.0,
            "transport_journeys_per_week": 4,
            "start_date": "2025-04-01",
            "pathway": "therapeutic"
        }))
        .unwrap()
    }

    fn fact(date: &str, status: AttendanceStatus) -> RegisterFact {
        RegisterFact {
            person_ref: "P1".into(),
            date: d(date),
            session_type: SessionType::Am,
            status,
            absence_reason: None,
            notice_hours: None,
            one_to_one_quarters: 0,
            transport_journeys: 0,
            meal: false,
        }
    }

    fn line(date: &str, item: Item, quantity: f64, band: &str, unit: i64) -> ClaimLine {
        ClaimLine {
            person_ref: "P1".into(),
            date: d(date),
            item,
            session_type: (item == Item::Session).then_some(SessionType::Am),
            quantity: Quantity::from_quarters((quantity * 4.0) as u32),
            need_band: band.into(),
            unit_price_pence: unit,
            amount_pence: amount_of((quantity * 4.0) as u64, unit),
        }
    }

    struct Scenario {
        contract: ContractInput,
        matrix: Vec<MatrixVersion<u8>>,
        agreements: Vec<AgreementInput>,
        registers: Vec<RegisterFact>,
        others: Vec<ClaimedUnit>,
        claim: ClaimInput,
    }

    /// The four-weekly period 30 March to 26 April 2026 spans the uplift of 1 April.
    fn scenario() -> Scenario {
        let mut contract = crate::contract::tests::sample();
        contract
            .session_hours
            .insert(SessionType::FullDay, crate::types::Hours::from_quarters(24));
        let mut monday = fact("2026-03-30", AttendanceStatus::Attended);
        monday.one_to_one_quarters = 6;
        monday.transport_journeys = 2;
        monday.meal = true;
        let mut ill = fact("2026-04-06", AttendanceStatus::Absent);
        ill.absence_reason = Some(AbsenceReason::Illness);
        ill.notice_hours = Some(2);
        let mut holiday = fact("2026-04-07", AttendanceStatus::Absent);
        holiday.absence_reason = Some(AbsenceReason::Holiday);
        holiday.notice_hours = Some(72);
        let lines = vec![
            line("2026-03-30", Item::Session, 1.0, "high", 5000),
            line("2026-03-31", Item::Session, 1.0, "high", 5000),
            line("2026-04-06", Item::Session, 1.0, "high", 5200),
            line("2026-03-30", Item::OneToOneHour, 1.5, "high", 1801),
            line("2026-03-30", Item::TransportJourney, 2.0, "high", 850),
            line("2026-03-30", Item::Meal, 1.0, "high", 450),
        ];
        Scenario {
            contract,
            matrix: matrix(),
            agreements: vec![agreement(
                "P1",
                &[("2025-04-01", "medium"), ("2025-06-01", "high")],
            )],
            registers: vec![
                monday,
                fact("2026-03-31", AttendanceStatus::Attended),
                ill,
                holiday,
                fact("2026-04-04", AttendanceStatus::Attended),
            ],
            others: vec![],
            claim: ClaimInput {
                contract_id: "c1".into(),
                period_start: d("2026-03-30"),
                period_end: d("2026-04-26"),
                total_pence: lines.iter().map(|l| l.amount_pence).sum(),
                lines,
                acknowledged_warnings: vec![],
            },
        }
    }

    impl Scenario {
        /// The scenario's context, priced on 1 May 2026.
        fn context(&self) -> ClaimContext<'_, u8> {
            ClaimContext {
                contract: &self.contract,
                matrix: &self.matrix,
                agreements: &self.agreements,
                registers: &self.registers,
                other_claims: &self.others,
                today: d("2026-05-01"),
            }
        }
    }

    fn price(s: &Scenario) -> PricedClaim {
        price_claim(&s.claim, &s.context())
    }

    fn codes(p: &PricedClaim) -> Vec<(String, Severity, String)> {
        p.findings
            .iter()
            .map(|f| (f.code.clone(), f.severity, f.pointer.clone()))
            .collect()
    }

    use Severity::{Error as E, Warning as W};

    #[test]
    fn a_clean_claim_is_priced_across_the_uplift() {
        let p = price(&scenario());
        assert_eq!(codes(&p), vec![]);
        assert_eq!(p.status, SubmissionStatus::Accepted);
        let amounts: Vec<i64> = p.lines.iter().map(|l| l.accepted_amount_pence).collect();
        // 31 March: the old matrix; 6 April: the new one. 1.5 h at 1801p = 2701.5 -> 2702.
        assert_eq!(amounts, [5000, 5000, 5200, 2702, 1700, 450]);
        assert_eq!(
            p.accepted_total_pence,
            5000 + 5000 + 5200 + 2702 + 1700 + 450
        );
    }

    #[test]
    fn a_high_need_person_claimed_at_medium_is_paid_at_high() {
        let mut s = scenario();
        s.claim.lines[0].need_band = "medium".into();
        s.claim.lines[0].unit_price_pence = 4000;
        s.claim.lines[0].amount_pence = 4000;
        s.claim.total_pence -= 1000;
        let p = price(&s);
        assert_eq!(
            codes(&p),
            [
                ("RATE-003".into(), W, "/lines/0/need_band".into()),
                ("RATE-002".into(), W, "/lines/0/unit_price_pence".into())
            ]
        );
        assert_eq!(p.lines[0].accepted_amount_pence, 5000);
        assert_eq!(p.claimed_total_pence + 1000, p.accepted_total_pence);
    }

    #[test]
    fn saturday_uses_the_weekend_cell_or_any() {
        let mut s = scenario();
        s.claim.period_start = d("2026-03-02");
        s.claim.period_end = d("2026-03-29");
        s.registers = vec![fact("2026-03-07", AttendanceStatus::Attended)];
        s.claim.lines = vec![line("2026-03-07", Item::Session, 1.0, "high", 6000)];
        s.claim.total_pence = 6000;
        let p = price(&s);
        assert_eq!(p.lines[0].accepted_unit_price_pence, 6000, "weekend cell");
        // The new matrix has no weekend cell: the `any` cell prices a Saturday.
        let mut s = scenario();
        s.claim.lines = vec![line("2026-04-04", Item::Session, 1.0, "high", 5200)];
        s.claim.total_pence = 5200;
        let p = price(&s);
        assert_eq!(codes(&p), vec![]);
        assert_eq!(p.lines[0].accepted_unit_price_pence, 5200);
    }

    #[test]
    fn each_rule_fires_with_its_pointer() {
        type Mutation = fn(&mut Scenario);
        type Expected = Vec<(&'static str, Severity, &'static str)>;
        let cases: Vec<(&str, Mutation, Expected)> = vec![
            (
                "long-notice holiday",
                |s| {
                    s.claim
                        .lines
                        .push(line("2026-04-07", Item::Session, 1.0, "high", 5200))
                },
                vec![("CLM-002", E, "/lines/6")],
            ),
            (
                // Enabling from 5 January: its twelve weeks end on Monday 30 March, so
                // Tuesday's session is past them; the line is still priced.
                "enablement past twelve weeks",
                |s| {
                    s.agreements[0].pathway = crate::types::Pathway::Enabling;
                    s.agreements[0].start_date = d("2026-01-05");
                },
                vec![("AGR-007", W, "/lines/1/date")],
            ),
            (
                "no register line",
                |s| {
                    s.claim
                        .lines
                        .push(line("2026-04-13", Item::Session, 1.0, "high", 5200))
                },
                vec![("CLM-001", E, "/lines/6")],
            ),
            (
                "more hours than recorded",
                |s| {
                    s.claim.lines[3].quantity = Quantity::from_quarters(7);
                    s.claim.lines[3].amount_pence = amount_of(7, 1801);
                },
                vec![("CLM-001", E, "/lines/3")],
            ),
            (
                "twice in the claim",
                |s| {
                    let l = s.claim.lines[1].clone();
                    s.claim.lines.push(l);
                },
                vec![("CLM-003", E, "/lines/6")],
            ),
            (
                "in another claim",
                |s| {
                    s.others.push(ClaimedUnit {
                        person_ref: "P1".into(),
                        date: d("2026-03-31"),
                        session_type: Some(SessionType::Am),
                        item: Item::Session,
                    })
                },
                vec![("CLM-003", E, "/lines/1")],
            ),
            (
                "total off",
                |s| s.claim.total_pence += 1,
                vec![("CLM-005", W, "/total_pence")],
            ),
            (
                "outside the period",
                |s| {
                    s.claim
                        .lines
                        .push(line("2026-04-27", Item::Session, 1.0, "high", 5200))
                },
                vec![("CLM-006", E, "/lines/6/date"), ("CLM-001", E, "/lines/6")],
            ),
            (
                "three sessions planned two",
                |s| {
                    s.claim
                        .lines
                        .push(line("2026-04-04", Item::Session, 1.0, "high", 5200))
                },
                vec![("CLM-007", W, "/lines/6")],
            ),
            (
                "amount off",
                |s| s.claim.lines[1].amount_pence = 4999,
                vec![("RATE-004", W, "/lines/1/amount_pence")],
            ),
            (
                "no agreement",
                |s| s.agreements.clear(),
                vec![
                    ("AGR-001", E, "/lines/0/person_ref"),
                    ("AGR-001", E, "/lines/1/person_ref"),
                    ("AGR-001", E, "/lines/2/person_ref"),
                    ("AGR-001", E, "/lines/3/person_ref"),
                    ("AGR-001", E, "/lines/4/person_ref"),
                    ("AGR-001", E, "/lines/5/person_ref"),
                ],
            ),
            (
                "agreement ended",
                |s| {
                    s.agreements[0].end_date = Some(d("2026-04-01"));
                    s.claim.lines.truncate(3);
                    s.claim.total_pence = 15200;
                },
                vec![("AGR-002", E, "/lines/2/date")],
            ),
            (
                "suspended",
                |s| {
                    s.agreements[0]
                        .suspensions
                        .push(crate::agreement::Suspension {
                            from: d("2026-04-06"),
                            to: d("2026-04-08"),
                            reason: "respite".into(),
                        })
                },
                vec![("AGR-003", E, "/lines/2/date")],
            ),
            (
                "not offered",
                |s| {
                    s.claim.lines[1].session_type = Some(SessionType::Pm);
                },
                vec![
                    ("AGR-004", E, "/lines/1/session_type"),
                    ("CLM-001", E, "/lines/1"),
                ],
            ),
            (
                "no cell for the band",
                |s| {
                    s.agreements.push(agreement("P2", &[("2025-04-01", "low")]));
                    let mut l = line("2026-03-30", Item::Session, 1.0, "low", 1);
                    l.person_ref = "P2".into();
                    l.session_type = Some(SessionType::FullDay);
                    s.claim.lines.push(l);
                    s.claim.total_pence += 1;
                },
                vec![
                    ("RATE-001", E, "/lines/6/need_band"),
                    ("CLM-001", E, "/lines/6"),
                ],
            ),
            (
                "transport beyond the authorisation",
                |s| {
                    s.registers[0].transport_journeys = 6;
                    s.claim.lines[4].quantity = Quantity::from_quarters(24);
                    s.claim.lines[4].amount_pence = 5100;
                    s.claim.total_pence += 3400;
                },
                vec![("AGR-006", E, "/lines/4/quantity")],
            ),
            (
                "not a payment period",
                |s| s.claim.period_start = d("2026-03-31"),
                vec![
                    ("SUB-001", E, "/period_start"),
                    ("CLM-006", E, "/lines/0/date"),
                    ("CLM-006", E, "/lines/3/date"),
                    ("CLM-006", E, "/lines/4/date"),
                    ("CLM-006", E, "/lines/5/date"),
                ],
            ),
            (
                "contract ended",
                |s| s.contract.status = ContractStatus::Ended,
                vec![("SUB-003", E, "/contract_id")],
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut s = scenario();
            mutate(&mut s);
            if name != "total off" {
                s.claim.total_pence = s.claim.lines.iter().map(|l| l.amount_pence).sum();
            }
            let expected: Vec<_> = expected
                .into_iter()
                .map(|(c, sev, p)| (c.to_string(), sev, p.to_string()))
                .collect();
            assert_eq!(codes(&price(&s)), expected, "{name}");
        }
    }

    #[test]
    fn errors_reject_lines_and_claims() {
        let mut s = scenario();
        s.claim
            .lines
            .push(line("2026-04-07", Item::Session, 1.0, "high", 5200));
        s.claim.total_pence += 5200;
        let p = price(&s);
        assert_eq!(p.status, SubmissionStatus::PartiallyAccepted);
        assert_eq!(p.lines[6].accepted_amount_pence, 0);
        assert_eq!(p.claimed_total_pence - 5200, p.accepted_total_pence);
        let mut s = scenario();
        s.claim.period_end = d("2026-04-25");
        let p = price(&s);
        assert_eq!(p.status, SubmissionStatus::Rejected);
        assert_eq!(p.accepted_total_pence, 0);
    }

    #[test]
    fn shape_rules() {
        let mut s = scenario();
        s.claim.lines[0].quantity = Quantity::from_quarters(6);
        s.claim.lines[4].session_type = Some(SessionType::Am);
        s.claim.lines[5].amount_pence = -1;
        let pointers: Vec<_> = s
            .claim
            .check_shape()
            .into_vec()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(
            pointers,
            [
                "/lines/0/quantity",
                "/lines/4/session_type",
                "/lines/5/amount_pence"
            ]
        );
    }

    proptest::proptest! {
        /// Whatever a provider claims (any lines, quantities, prices and amounts), each
        /// accepted amount is its quantity × unit price rounded half up to whole pence,
        /// and the claim's accepted total is exactly the sum of its lines.
        #[test]
        fn a_claims_total_is_the_sum_of_its_lines(
            picks in proptest::collection::vec(
                (0usize..64, 1u64..48, 0i64..20_000, 0i64..2_000_000, proptest::bool::ANY),
                0..24,
            )
        ) {
            let s = scenario();
            let ctx = s.context();
            let mut claim = draft_claim("c1", (d("2026-03-30"), d("2026-04-26")), &ctx);
            let drafted = claim.lines.clone();
            claim.lines = picks
                .iter()
                .map(|(i, quarter_hours, unit, amount, own_price)| {
                    let mut line = drafted[i % drafted.len()].clone();
                    if line.item == Item::OneToOneHour {
                        line.quantity = Quantity::from_quarters(*quarter_hours as u32);
                    }
                    if !own_price {
                        line.unit_price_pence = *unit;
                        line.amount_pence = *amount;
                    }
                    line
                })
                .collect();
            claim.total_pence = claim.lines.iter().map(|l| l.amount_pence).sum();
            let priced = price_claim(&claim, &ctx);
            let sum: i64 = priced.lines.iter().map(|l| l.accepted_amount_pence).sum();
            proptest::prop_assert_eq!(priced.accepted_total_pence, sum);
            // Each line keeps exactly the report's findings that point into it.
            for (i, line) in priced.lines.iter().enumerate() {
                let into_line: Vec<&Finding> = priced
                    .findings
                    .iter()
                    .filter(|f| f.pointer == format!("/lines/{i}") || f.pointer.starts_with(&format!("/lines/{i}/")))
                    .collect();
                proptest::prop_assert_eq!(line.findings.iter().collect::<Vec<_>>(), into_line);
            }
            for line in priced.lines.iter().filter(|l| l.accepted_amount_pence != 0) {
                let quarters = i64::from(line.accepted_quantity.quarters());
                let exact_quarters_of_pence = quarters * line.accepted_unit_price_pence;
                // Half up: the whole pence nearest the exact amount, a half going up.
                proptest::prop_assert_eq!(line.accepted_amount_pence, (exact_quarters_of_pence + 2) / 4);
                proptest::prop_assert!(4 * line.accepted_amount_pence - exact_quarters_of_pence <= 2);
                proptest::prop_assert!(exact_quarters_of_pence - 4 * line.accepted_amount_pence < 2);
            }
        }
    }

    #[test]
    fn amounts_round_half_up_to_whole_pence() {
        assert_eq!(amount_of(1, 1801), 450); // 450.25
        assert_eq!(amount_of(2, 1801), 901); // 900.5
        assert_eq!(amount_of(3, 1801), 1351); // 1350.75
        assert_eq!(amount_of(8, 4800), 9600);
    }

    #[test]
    fn the_draft_is_accepted_as_it_stands() {
        let s = scenario();
        let ctx = s.context();
        let draft = draft_claim("c1", (d("2026-03-30"), d("2026-04-26")), &ctx);
        // Attended and the short-notice illness are paid; the long-notice holiday is not.
        let sessions: Vec<_> = draft
            .lines
            .iter()
            .filter(|l| l.item == Item::Session)
            .map(|l| l.date.to_string())
            .collect();
        assert_eq!(
            sessions,
            ["2026-03-30", "2026-03-31", "2026-04-04", "2026-04-06"]
        );
        let priced = price_claim(&draft, &ctx);
        // Three sessions in a week planned for two: CLM-007 warns, and warnings do not
        // hold a claim back from `accepted`.
        assert_eq!(
            priced.status,
            SubmissionStatus::Accepted,
            "{:?}",
            priced.findings
        );
        assert_eq!(priced.accepted_total_pence, priced.claimed_total_pence);
        assert_eq!(
            draft.total_pence,
            draft.lines.iter().map(|l| l.amount_pence).sum::<i64>()
        );
    }
}
