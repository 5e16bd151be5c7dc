//! Weekly attendance registers (SPEC §4.1) and their rules (REG, AGR and SUB of §5).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agreement::AgreementInput;
use crate::calendar::is_monday;
use crate::checks::{self, TimeLimit};
use crate::contract::ContractInput;
use crate::finding::Finding;
use crate::matrix::{offers, MatrixVersion};
use crate::rules::Rule;
use crate::types::{AbsenceReason, Item, SessionType};

crate::types::vocabulary!(AttendanceStatus {
    Attended => "attended",
    Absent => "absent",
    ProviderCancelled => "provider_cancelled",
});

crate::types::vocabulary!(OutcomeTag {
    Independence => "independence",
    SocialInclusion => "social_inclusion",
    Wellbeing => "wellbeing",
    LifeGoals => "life_goals",
    EmploymentVolunteeringEducation => "employment_volunteering_education",
    CommunityNetworks => "community_networks",
});

/// One person's session on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterLine {
    #[schema(example = "P100234")]
    pub person_ref: String,
    pub date: NaiveDate,
    pub session_type: SessionType,
    pub status: AttendanceStatus,
    /// Required when `status` is `absent`.
    #[serde(default)]
    pub absence_reason: Option<AbsenceReason>,
    /// Hours of notice the provider had of the absence.
    #[serde(default)]
    pub notice_hours: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "09:45")]
    pub arrived_at: Option<NaiveTime>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "15:30")]
    pub departed_at: Option<NaiveTime>,
    /// One-to-one support in hours, in steps of 0.25 (REG-004 reports other values).
    #[serde(default)]
    pub one_to_one_hours: Option<f64>,
    #[serde(default)]
    pub transport_journeys: u32,
    #[serde(default)]
    pub meal: bool,
    /// The session took place in the community.
    #[serde(default)]
    pub community_access: bool,
    #[serde(default)]
    pub outcome_tags: Vec<OutcomeTag>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

/// A register as a provider posts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterInput {
    pub contract_id: String,
    /// A Monday.
    pub period_start: NaiveDate,
    /// The Sunday after `period_start`.
    pub period_end: NaiveDate,
    pub lines: Vec<RegisterLine>,
    /// Warning codes the provider acknowledges (in an amendment).
    #[serde(default)]
    pub acknowledged_warnings: Vec<String>,
}

/// A session of a person in another current register (any provider), for REG-006. It
/// carries no provider or register id: the finding must not reveal them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedSession {
    pub person_ref: String,
    pub date: NaiveDate,
    pub session_type: SessionType,
}

/// Everything outside the register that its rules look at.
pub struct RegisterContext<'a, Id> {
    pub contract: &'a ContractInput,
    pub matrix: &'a [MatrixVersion<Id>],
    /// The contract's agreements.
    pub agreements: &'a [AgreementInput],
    /// Attended sessions of the same people on the period's dates in other current
    /// registers, under any provider.
    pub other_sessions: &'a [BookedSession],
    /// The day the register is submitted (or validated).
    pub today: NaiveDate,
}

/// Whether two sessions on the same day overlap: `full_day` overlaps `am` and `pm`.
pub fn sessions_overlap(a: SessionType, b: SessionType) -> bool {
    use SessionType::*;
    a == b || matches!((a, b), (FullDay, Am | Pm) | (Am | Pm, FullDay))
}

/// The parts of a day a session occupies. Two sessions overlap exactly when they share a
/// part, so a unique key on (person, date, part) across all registers enforces REG-006
/// against concurrent submissions.
pub fn session_slots(session_type: SessionType) -> &'static [&'static str] {
    use SessionType::*;
    match session_type {
        Am => &["am"],
        Pm => &["pm"],
        FullDay => &["am", "pm"],
        Evening => &["evening"],
    }
}

fn line_at(i: usize, field: &str) -> String {
    if field.is_empty() {
        format!("/lines/{i}")
    } else {
        format!("/lines/{i}/{field}")
    }
}

/// Checks the period against the contract: SUB-001, SUB-002, SUB-003.
fn check_period(
    register: &RegisterInput,
    contract: &ContractInput,
    today: NaiveDate,
    findings: &mut Vec<Finding>,
) {
    if !is_monday(register.period_start) {
        findings.push(Finding::of(
            Rule::Sub001,
            "/period_start",
            "the register period must start on a Monday",
        ));
    }
    if register.period_end != register.period_start + Days::new(6) {
        findings.push(Finding::of(
            Rule::Sub001,
            "/period_end",
            "the register period must end on the Sunday after period_start",
        ));
    }
    if register.period_end >= today {
        findings.push(Finding::of(
            Rule::Sub001,
            "/period_end",
            "the period has not ended yet",
        ));
    } else if today > register.period_end + Days::new(u64::from(contract.register_deadline_days)) {
        findings.push(Finding::of(
            Rule::Sub002,
            "/period_end",
            format!(
                "submitted after the deadline of {} days after the period end",
                contract.register_deadline_days
            ),
        ));
    }
    findings.extend(checks::contract_not_active(contract));
    findings.extend(checks::period_outside_contract(
        contract,
        (register.period_start, register.period_end),
    ));
}

/// Every finding of SPEC §5 that applies to a register, in line order.
pub fn validate_register<Id>(
    register: &RegisterInput,
    ctx: &RegisterContext<'_, Id>,
) -> Vec<Finding> {
    let contract = ctx.contract;
    let mut findings = Vec::new();
    check_period(register, contract, ctx.today, &mut findings);

    let agreements: BTreeMap<&str, &AgreementInput> = ctx
        .agreements
        .iter()
        .map(|a| (a.person_ref.as_str(), a))
        .collect();
    let mut seen = BTreeSet::new();
    let mut attended_per_session: BTreeMap<(NaiveDate, SessionType), u32> = BTreeMap::new();
    // Per person: quarter-hours of one-to-one and journeys so far this week.
    let mut weekly: BTreeMap<&str, (u64, u64)> = BTreeMap::new();

    for (i, line) in register.lines.iter().enumerate() {
        let attended = line.status == AttendanceStatus::Attended;
        findings.extend(date_outside_week(i, line, register));
        findings.extend(absence_without_reason(i, line));
        let (one_to_one_quarters, bad_hours) = one_to_one_quarters(i, line);
        findings.extend(bad_hours);
        findings.extend(repeated_line(i, line, &mut seen));
        findings.extend(attended_on_closure(i, line, contract));
        findings.extend(extras_not_attended(i, line, one_to_one_quarters));
        findings.extend(one_to_one_longer_than_session(
            i,
            line,
            one_to_one_quarters,
            contract,
        ));
        findings.extend(session_not_offered(i, line, contract, ctx.matrix));
        findings.extend(overlapping_session(i, line, ctx.other_sessions));
        findings.extend(over_capacity(i, line, contract, &mut attended_per_session));

        let at = |field: &str| line_at(i, field);
        let Some(agreement) = agreements.get(line.person_ref.as_str()) else {
            findings.push(checks::no_agreement(at));
            continue;
        };
        if let Some(outside) = checks::outside_agreement(agreement, line.date, at) {
            findings.push(outside);
            continue;
        }
        findings.extend(checks::agreement_suspended(agreement, line.date, at));
        findings.extend(outside_the_plan(i, line, agreement, contract));
        if attended {
            let totals = weekly.entry(line.person_ref.as_str()).or_default();
            findings.extend(over_authorisation(
                i,
                line,
                (one_to_one_quarters, totals),
                agreement,
                contract,
            ));
        }
    }

    check_planned_sessions(register, ctx, &mut findings);
    check_outcomes(register, &mut findings);
    let attended = register.lines.iter().enumerate().filter_map(|(i, line)| {
        (line.status == AttendanceStatus::Attended).then_some((
            i,
            line.person_ref.as_str(),
            line.date,
        ))
    });
    findings.extend(
        checks::time_limits(
            &[TimeLimit::Review, TimeLimit::Enablement],
            attended,
            &agreements,
            line_at,
        )
        .into_iter()
        .map(|(_, finding)| finding),
    );
    findings
}

/// REG-011: the line's date is outside the register's week.
fn date_outside_week(i: usize, line: &RegisterLine, register: &RegisterInput) -> Option<Finding> {
    (line.date < register.period_start || line.date > register.period_end).then(|| {
        Finding::of(
            Rule::Reg011,
            line_at(i, "date"),
            "the date is outside the register period",
        )
    })
}

/// REG-002: an absence without a reason.
fn absence_without_reason(i: usize, line: &RegisterLine) -> Option<Finding> {
    (line.status == AttendanceStatus::Absent && line.absence_reason.is_none()).then(|| {
        Finding::of(
            Rule::Reg002,
            line_at(i, "absence_reason"),
            "an absence needs a reason",
        )
    })
}

/// REG-004: the line's one-to-one hours in quarter-hours, or 0 with the finding when they
/// are not a non-negative multiple of 0.25, at most 24.
fn one_to_one_quarters(i: usize, line: &RegisterLine) -> (u32, Option<Finding>) {
    let Some(hours) = line.one_to_one_hours else {
        return (0, None);
    };
    match crate::types::Hours::from_f64(hours).filter(|h| h.quarters() <= 96) {
        Some(h) => (h.quarters(), None),
        None => (
            0,
            Some(Finding::of(
                Rule::Reg004,
                line_at(i, "one_to_one_hours"),
                "hours must be a non-negative multiple of 0.25, at most 24",
            )),
        ),
    }
}

/// REG-005: the same person, date and session type earlier in the register (`seen` holds
/// the lines so far).
fn repeated_line<'a>(
    i: usize,
    line: &'a RegisterLine,
    seen: &mut BTreeSet<(&'a str, NaiveDate, SessionType)>,
) -> Option<Finding> {
    (!seen.insert((line.person_ref.as_str(), line.date, line.session_type))).then(|| {
        Finding::of(
            Rule::Reg005,
            line_at(i, ""),
            "the same person, date and session type appear earlier in this register",
        )
    })
}

/// REG-007: attendance on one of the contract's closure dates.
fn attended_on_closure(i: usize, line: &RegisterLine, contract: &ContractInput) -> Option<Finding> {
    (line.status == AttendanceStatus::Attended && contract.closure_dates.contains(&line.date)).then(
        || {
            Finding::of(
                Rule::Reg007,
                line_at(i, "date"),
                "attendance on a closure date of the contract",
            )
        },
    )
}

/// REG-009: one-to-one hours, transport or a meal on a line that was not attended.
fn extras_not_attended(i: usize, line: &RegisterLine, one_to_one_quarters: u32) -> Option<Finding> {
    let extras = one_to_one_quarters > 0 || line.transport_journeys > 0 || line.meal;
    (line.status != AttendanceStatus::Attended && extras).then(|| {
        Finding::of(
            Rule::Reg009,
            line_at(i, "status"),
            "one-to-one hours, transport or a meal on a session that was not attended",
        )
    })
}

/// REG-010: one-to-one hours longer than the session.
fn one_to_one_longer_than_session(
    i: usize,
    line: &RegisterLine,
    one_to_one_quarters: u32,
    contract: &ContractInput,
) -> Option<Finding> {
    let session = contract.session_hours.get(&line.session_type)?;
    (one_to_one_quarters > session.quarters()).then(|| {
        Finding::of(
            Rule::Reg010,
            line_at(i, "one_to_one_hours"),
            format!("one-to-one hours exceed the {session} hours of the session"),
        )
    })
}

/// AGR-004: the contract does not offer the session type on that date (no cell for it).
fn session_not_offered<Id>(
    i: usize,
    line: &RegisterLine,
    contract: &ContractInput,
    matrix: &[MatrixVersion<Id>],
) -> Option<Finding> {
    let offered = contract.offers_session_type(line.session_type)
        && offers(matrix, line.date, Item::Session, Some(line.session_type));
    (!offered).then(|| {
        Finding::of(
            Rule::Agr004,
            line_at(i, "session_type"),
            "the contract does not offer this session type on that date",
        )
    })
}

/// REG-006: the person attends an overlapping session in another current register.
fn overlapping_session(
    i: usize,
    line: &RegisterLine,
    other_sessions: &[BookedSession],
) -> Option<Finding> {
    let overlaps = other_sessions.iter().any(|other| {
        other.person_ref == line.person_ref
            && other.date == line.date
            && sessions_overlap(other.session_type, line.session_type)
    });
    (line.status == AttendanceStatus::Attended && overlaps).then(|| {
        Finding::of(
            Rule::Reg006,
            line_at(i, "session_type"),
            "the person attends an overlapping session in another register that day",
        )
    })
}

/// REG-008: more people attended a session than the contract's capacity; reported once,
/// on the line that goes over (`attended` counts the session's attenders so far).
fn over_capacity(
    i: usize,
    line: &RegisterLine,
    contract: &ContractInput,
    attended: &mut BTreeMap<(NaiveDate, SessionType), u32>,
) -> Option<Finding> {
    if line.status != AttendanceStatus::Attended {
        return None;
    }
    let count = attended.entry((line.date, line.session_type)).or_default();
    *count += 1;
    (*count == contract.capacity_per_session + 1).then(|| {
        Finding::of(
            Rule::Reg008,
            line_at(i, ""),
            format!(
                "more people attended this session than the capacity of {}",
                contract.capacity_per_session
            ),
        )
    })
}

/// REG-003 and AGR-005: a session outside the plan needs a comment (REG-003); with one,
/// it is an extra, warned about where the contract allows extras and refused elsewhere.
fn outside_the_plan(
    i: usize,
    line: &RegisterLine,
    agreement: &AgreementInput,
    contract: &ContractInput,
) -> Option<Finding> {
    if agreement.plans(line.date, line.session_type) {
        return None;
    }
    let has_comment = line
        .comment
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    Some(if !has_comment {
        Finding::of(
            Rule::Reg003,
            line_at(i, "comment"),
            "a session outside the plan needs a comment",
        )
    } else if contract.allows_extras {
        Finding::tolerated(
            Rule::Agr005,
            line_at(i, "session_type"),
            "an extra session outside the plan",
        )
    } else {
        Finding::of(
            Rule::Agr005,
            line_at(i, "session_type"),
            "the contract does not allow sessions outside the plan",
        )
    })
}

/// AGR-006: one-to-one hours or transport journeys over the weekly authorisation, a
/// warning within `over_delivery_tolerance_pct` and an error beyond, each reported once,
/// on the line that first crosses it. `totals` are the person's quarter-hours and journeys
/// so far this week, this line added to them here.
fn over_authorisation(
    i: usize,
    line: &RegisterLine,
    (one_to_one_quarters, totals): (u32, &mut (u64, u64)),
    agreement: &AgreementInput,
    contract: &ContractInput,
) -> Vec<Finding> {
    let (before_hours, before_journeys) = *totals;
    totals.0 += u64::from(one_to_one_quarters);
    totals.1 += u64::from(line.transport_journeys);
    let tolerance = u64::from(contract.over_delivery_tolerance_pct);
    let authorised = [
        (
            before_hours,
            totals.0,
            u64::from(agreement.one_to_one_hours_per_week.quarters()),
            "one_to_one_hours",
            "one-to-one hours",
        ),
        (
            before_journeys,
            totals.1,
            u64::from(agreement.transport_journeys_per_week),
            "transport_journeys",
            "transport journeys",
        ),
    ];
    let mut findings = Vec::new();
    for (before, after, allowed, field, what) in authorised {
        let within_tolerance = |total: u64| total * 100 <= allowed * (100 + tolerance);
        if after > allowed && before <= allowed && within_tolerance(after) {
            findings.push(Finding::tolerated(
                Rule::Agr006,
                line_at(i, field),
                format!("{what} this week exceed the weekly authorisation, within the tolerance"),
            ));
        }
        if !within_tolerance(after) && within_tolerance(before) {
            findings.push(Finding::of(
                Rule::Agr006,
                line_at(i, field),
                format!("{what} this week exceed the weekly authorisation beyond the tolerance"),
            ));
        }
    }
    findings
}

/// REG-001: every planned session of an agreement in force and not suspended, on a day
/// the service is open, has a line.
fn check_planned_sessions<Id>(
    register: &RegisterInput,
    ctx: &RegisterContext<'_, Id>,
    findings: &mut Vec<Finding>,
) {
    if register.period_end < register.period_start
        || register.period_end > register.period_start + Days::new(6)
    {
        return; // SUB-001 already rejects the period; there is no week to walk.
    }
    let recorded: BTreeSet<(&str, NaiveDate, SessionType)> = register
        .lines
        .iter()
        .map(|l| (l.person_ref.as_str(), l.date, l.session_type))
        .collect();
    let days: Vec<NaiveDate> = register
        .period_start
        .iter_days()
        .take_while(|d| *d <= register.period_end)
        .collect();
    for agreement in ctx.agreements {
        for day in &days {
            if !agreement.in_force_on(*day)
                || agreement.suspended_on(*day)
                || ctx.contract.closure_dates.contains(day)
            {
                continue;
            }
            let weekday = crate::types::Weekday::of(*day);
            for planned in agreement
                .planned_sessions
                .iter()
                .filter(|p| p.weekday == weekday)
            {
                if !recorded.contains(&(agreement.person_ref.as_str(), *day, planned.session_type))
                {
                    findings.push(Finding::of(
                        Rule::Reg001,
                        "/lines",
                        format!(
                            "planned {} session of {} on {} has no line",
                            planned.session_type, agreement.person_ref, day
                        ),
                    ));
                }
            }
        }
    }
}

/// REG-012: a person who attended during the week has an outcome tag or community access
/// on at least one line.
fn check_outcomes(register: &RegisterInput, findings: &mut Vec<Finding>) {
    let mut first_attended: BTreeMap<&str, usize> = BTreeMap::new();
    let mut with_outcome = BTreeSet::new();
    for (i, line) in register.lines.iter().enumerate() {
        if line.status == AttendanceStatus::Attended {
            first_attended.entry(line.person_ref.as_str()).or_insert(i);
            if !line.outcome_tags.is_empty() || line.community_access {
                with_outcome.insert(line.person_ref.as_str());
            }
        }
    }
    let mut missing: Vec<usize> = first_attended
        .iter()
        .filter(|(person, _)| !with_outcome.contains(*person))
        .map(|(_, i)| *i)
        .collect();
    missing.sort_unstable();
    for i in missing {
        findings.push(Finding::of(
            Rule::Reg012,
            line_at(i, "outcome_tags"),
            "the person attended this week but no line records an outcome or community access",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::{PlannedSession, Suspension};
    use crate::matrix::RateCell;
    use crate::types::ContractStatus;
    use crate::types::{DayCategory, Weekday};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    struct Scenario {
        contract: ContractInput,
        matrix: Vec<MatrixVersion<u8>>,
        agreements: Vec<AgreementInput>,
        other: Vec<BookedSession>,
        register: RegisterInput,
        today: NaiveDate,
    }

    fn agreement(person: &str, planned: &[(Weekday, SessionType)]) -> AgreementInput {
        serde_json::from_value(serde_json::json!({
            "person_ref": person,
            "need_bands": [{"from": "2025-04-01", "band": "medium"}],
            "planned_sessions": planned.iter().map(|(w, s)| serde_json::json!({"weekday": w, "session_type": s})).collect::<Vec<_>>(),
            "one_to_one_hours_per_week": 2.0,
            "transport_journeys_per_week": 4,
            "start_date": "2025-04-01",
            "pathway": "therapeutic"
        }))
        .unwrap()
    }

    fn line(person: &str, date: &str, session_type: SessionType) -> RegisterLine {
        RegisterLine {
            person_ref: person.into(),
            date: d(date),
            session_type,
            status: AttendanceStatus::Attended,
            absence_reason: None,
            notice_hours: None,
            arrived_at: None,
            departed_at: None,
            one_to_one_hours: None,
            transport_journeys: 0,
            meal: false,
            community_access: false,
            outcome_tags: vec![],
            comment: None,
        }
    }

    /// A clean week, 2 to 8 June 2025: P1 Monday am and Wednesday full day, P2 Tuesday pm.
    fn scenario() -> Scenario {
        use SessionType::*;
        let mut contract = crate::contract::tests::sample();
        contract.payment_period = crate::types::PaymentPeriod::Weekly;
        let cells = [Am, Pm, FullDay]
            .into_iter()
            .map(|st| RateCell {
                item: Item::Session,
                need_band: "*".into(),
                session_type: Some(st),
                day_category: DayCategory::Any,
                rate_pence: 5000,
            })
            .collect();
        let mut first = line("P1", "2025-06-02", Am);
        first.outcome_tags = vec![OutcomeTag::Wellbeing];
        let mut second = line("P1", "2025-06-04", FullDay);
        second.one_to_one_hours = Some(2.0);
        second.transport_journeys = 2;
        second.meal = true;
        let mut third = line("P2", "2025-06-03", Pm);
        third.community_access = true;
        Scenario {
            contract,
            matrix: vec![MatrixVersion {
                id: 1,
                effective_from: d("2025-04-01"),
                effective_to: None,
                cells,
            }],
            agreements: vec![
                agreement(
                    "P1",
                    &[(Weekday::Monday, Am), (Weekday::Wednesday, FullDay)],
                ),
                agreement("P2", &[(Weekday::Tuesday, Pm)]),
            ],
            other: vec![],
            register: RegisterInput {
                contract_id: "c1".into(),
                period_start: d("2025-06-02"),
                period_end: d("2025-06-08"),
                lines: vec![first, second, third],
                acknowledged_warnings: vec![],
            },
            today: d("2025-06-10"),
        }
    }

    fn findings(s: &Scenario) -> Vec<(String, Severity, String)> {
        let ctx = RegisterContext {
            contract: &s.contract,
            matrix: &s.matrix,
            agreements: &s.agreements,
            other_sessions: &s.other,
            today: s.today,
        };
        validate_register(&s.register, &ctx)
            .into_iter()
            .map(|f| (f.code, f.severity, f.pointer))
            .collect()
    }

    use crate::finding::Severity::{self, Error as E, Warning as W};

    #[test]
    fn a_clean_week_has_no_findings() {
        assert_eq!(findings(&scenario()), vec![]);
    }

    #[test]
    fn each_rule_fires_with_its_pointer() {
        use SessionType::*;
        type Mutation = fn(&mut Scenario);
        type Expected = Vec<(&'static str, Severity, &'static str)>;
        let cases: Vec<(&str, Mutation, Expected)> = vec![
            (
                "period not ended",
                |s| s.today = d("2025-06-08"),
                vec![("SUB-001", E, "/period_end")],
            ),
            (
                "deadline passed",
                |s| s.today = d("2025-06-16"),
                vec![("SUB-002", W, "/period_end")],
            ),
            ("deadline day itself", |s| s.today = d("2025-06-15"), vec![]),
            (
                "contract suspended",
                |s| s.contract.status = ContractStatus::Suspended,
                vec![("SUB-003", E, "/contract_id")],
            ),
            (
                "before the contract",
                |s| s.contract.start_date = d("2025-06-03"),
                vec![("SUB-003", E, "/period_start")],
            ),
            (
                "absence without reason",
                |s| s.register.lines[2].status = AttendanceStatus::Absent,
                vec![("REG-002", E, "/lines/2/absence_reason")],
            ),
            (
                "hours off the quarter",
                |s| s.register.lines[1].one_to_one_hours = Some(1.1),
                vec![("REG-004", E, "/lines/1/one_to_one_hours")],
            ),
            (
                "negative hours",
                |s| s.register.lines[1].one_to_one_hours = Some(-1.0),
                vec![("REG-004", E, "/lines/1/one_to_one_hours")],
            ),
            (
                "line twice",
                |s| {
                    let l = s.register.lines[0].clone();
                    s.register.lines.push(l);
                },
                vec![("REG-005", E, "/lines/3")],
            ),
            (
                "overlap in another register",
                |s| {
                    s.other.push(BookedSession {
                        person_ref: "P1".into(),
                        date: d("2025-06-04"),
                        session_type: Am,
                    })
                },
                vec![("REG-006", E, "/lines/1/session_type")],
            ),
            (
                "closure date",
                |s| s.contract.closure_dates = vec![d("2025-06-04")],
                vec![("REG-007", E, "/lines/1/date")],
            ),
            (
                "over capacity",
                |s| {
                    s.contract.capacity_per_session = 1;
                    s.agreements[1].planned_sessions.push(PlannedSession {
                        weekday: Weekday::Monday,
                        session_type: Am,
                    });
                    let mut extra = line("P2", "2025-06-02", Am);
                    extra.community_access = true;
                    s.register.lines.push(extra);
                },
                vec![("REG-008", W, "/lines/3")],
            ),
            (
                "meal on a cancelled session",
                |s| {
                    s.register.lines[2].status = AttendanceStatus::ProviderCancelled;
                    s.register.lines[2].meal = true;
                },
                vec![("REG-009", E, "/lines/2/status")],
            ),
            (
                "one-to-one longer than the session",
                |s| {
                    s.agreements[0].one_to_one_hours_per_week =
                        crate::types::Hours::from_quarters(40);
                    s.register.lines[0].one_to_one_hours = Some(3.5);
                },
                vec![("REG-010", E, "/lines/0/one_to_one_hours")],
            ),
            (
                "date outside the week",
                |s| s.register.lines[0].date = d("2025-06-09"),
                vec![("REG-011", E, "/lines/0/date"), ("REG-001", E, "/lines")],
            ),
            (
                "no outcome recorded",
                |s| s.register.lines[0].outcome_tags.clear(),
                vec![("REG-012", W, "/lines/0/outcome_tags")],
            ),
            (
                // Due 5 May: 28 days later is 2 June, so Monday's session is still within
                // the grace and Wednesday's is not; one finding for the person.
                "care plan review overdue",
                |s| s.agreements[0].care_plan_review_due = Some(d("2025-05-05")),
                vec![("REG-013", W, "/lines/1/person_ref")],
            ),
            (
                // Started 10 March: twelve weeks later is Monday 2 June, still within the
                // time limit; Wednesday's session is past it. One finding for the person.
                "enablement past twelve weeks",
                |s| {
                    s.agreements[0].pathway = crate::types::Pathway::Enabling;
                    s.agreements[0].start_date = d("2025-03-10");
                },
                vec![("AGR-007", W, "/lines/1/date")],
            ),
            (
                "a therapeutic placement has no time limit",
                |s| s.agreements[0].start_date = d("2025-03-10"),
                vec![],
            ),
            (
                "care plan review due, within the grace",
                |s| s.agreements[0].care_plan_review_due = Some(d("2025-05-07")),
                vec![],
            ),
            (
                "planned session missing",
                |s| {
                    s.register.lines.remove(2);
                },
                vec![("REG-001", E, "/lines")],
            ),
            (
                "extra without comment",
                |s| s.register.lines.push(line("P2", "2025-06-05", Pm)),
                vec![("REG-003", E, "/lines/3/comment")],
            ),
            (
                "extra with comment on a Sunday",
                |s| {
                    let mut l = line("P2", "2025-06-08", Pm);
                    l.comment = Some("trip to the coast".into());
                    s.register.lines.push(l);
                },
                vec![("AGR-005", W, "/lines/3/session_type")],
            ),
            (
                "extra where the contract allows none",
                |s| {
                    s.contract.allows_extras = false;
                    let mut l = line("P2", "2025-06-05", Pm);
                    l.comment = Some("cover".into());
                    s.register.lines.push(l);
                },
                vec![("AGR-005", E, "/lines/3/session_type")],
            ),
            (
                "person without agreement",
                |s| s.register.lines[2].person_ref = "P9".into(),
                vec![
                    ("AGR-001", E, "/lines/2/person_ref"),
                    ("REG-001", E, "/lines"),
                ],
            ),
            (
                "agreement starts on Wednesday",
                |s| s.agreements[1].start_date = d("2025-06-04"),
                vec![("AGR-002", E, "/lines/2/date")],
            ),
            (
                "suspension ending mid-week",
                |s| {
                    s.agreements[1].suspensions = vec![Suspension {
                        from: d("2025-05-28"),
                        to: d("2025-06-03"),
                        reason: "respite".into(),
                    }]
                },
                vec![("AGR-003", E, "/lines/2/date")],
            ),
            (
                "suspension ended the day before",
                |s| {
                    s.agreements[1].suspensions = vec![Suspension {
                        from: d("2025-05-28"),
                        to: d("2025-06-02"),
                        reason: "respite".into(),
                    }]
                },
                vec![],
            ),
            (
                "session type without a rate cell",
                |s| {
                    s.matrix[0]
                        .cells
                        .retain(|c| c.session_type != Some(FullDay))
                },
                vec![("AGR-004", E, "/lines/1/session_type")],
            ),
            (
                "transport within the tolerance",
                |s| {
                    s.contract.over_delivery_tolerance_pct = 25;
                    s.register.lines[1].transport_journeys = 5;
                },
                vec![("AGR-006", W, "/lines/1/transport_journeys")],
            ),
            (
                "transport beyond the tolerance",
                |s| s.register.lines[1].transport_journeys = 6,
                vec![("AGR-006", E, "/lines/1/transport_journeys")],
            ),
            (
                "need band changes mid-week",
                |s| {
                    s.agreements[0]
                        .need_bands
                        .push(crate::agreement::AssessedBand {
                            from: d("2025-06-04"),
                            band: "high".into(),
                        })
                },
                vec![],
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut s = scenario();
            mutate(&mut s);
            let expected: Vec<_> = expected
                .into_iter()
                .map(|(c, sev, p)| (c.to_string(), sev, p.to_string()))
                .collect();
            assert_eq!(findings(&s), expected, "{name}");
        }
    }

    #[test]
    fn a_period_that_is_not_a_week_is_rejected() {
        let mut s = scenario();
        s.register.period_start = d("2025-06-03");
        s.register.period_end = d("2025-06-10");
        s.today = d("2025-06-20");
        let codes = findings(&s);
        assert!(
            codes.contains(&("SUB-001".into(), E, "/period_start".into())),
            "{codes:?}"
        );
        assert!(
            codes.contains(&("SUB-001".into(), E, "/period_end".into())),
            "{codes:?}"
        );
    }

    #[test]
    fn overlap_table() {
        use SessionType::*;
        for (a, b, overlap) in [
            (Am, Am, true),
            (Am, Pm, false),
            (FullDay, Am, true),
            (Pm, FullDay, true),
            (Evening, FullDay, false),
            (Evening, Evening, true),
        ] {
            assert_eq!(sessions_overlap(a, b), overlap, "{a} {b}");
            assert_eq!(sessions_overlap(b, a), overlap, "{b} {a}");
        }
    }

    proptest::proptest! {
        /// Whatever lines a register holds, validation never panics and every pointer
        /// names the register's own members.
        #[test]
        fn pointers_name_existing_lines(
            picks in proptest::collection::vec((0usize..3, 0u64..9, 0usize..4, 0usize..3, proptest::option::of(0u32..40)), 0..12)
        ) {
            let base = scenario();
            let mut s = scenario();
            s.register.lines = picks
                .iter()
                .map(|(from, day, st, status, quarters)| {
                    let mut l = base.register.lines[*from].clone();
                    l.date = d("2025-06-01") + Days::new(*day);
                    l.session_type = SessionType::ALL[*st];
                    l.status = [AttendanceStatus::Attended, AttendanceStatus::Absent, AttendanceStatus::ProviderCancelled][*status];
                    l.one_to_one_hours = quarters.map(|q| f64::from(q) / 4.0 + if q % 7 == 0 { 0.1 } else { 0.0 });
                    l
                })
                .collect();
            for (_, _, pointer) in findings(&s) {
                let ok = pointer == "/lines" || pointer.starts_with("/period_") || pointer == "/contract_id"
                    || pointer
                        .strip_prefix("/lines/")
                        .and_then(|rest| rest.split('/').next())
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| n < s.register.lines.len());
                proptest::prop_assert!(ok, "{}", pointer);
            }
        }
    }

    #[test]
    fn sessions_overlap_exactly_when_they_share_a_slot() {
        for a in SessionType::ALL {
            for b in SessionType::ALL {
                let share = session_slots(*a)
                    .iter()
                    .any(|slot| session_slots(*b).contains(slot));
                assert_eq!(share, sessions_overlap(*a, *b), "{a} {b}");
            }
        }
    }
}
