//! The checks every kind of submission shares, each worded once: the contract in force
//! (SUB-003), a person's agreement on a date (AGR-001 to AGR-003) and the placement's
//! time limits (REG-013, AGR-007). Each kind decides
//! what follows a finding (a register line stops at a missing agreement; a claim line is
//! priced at nothing).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::agreement::{AgreementInput, ENABLEMENT_WEEKS, REVIEW_GRACE_DAYS};
use crate::contract::ContractInput;
use crate::finding::Finding;
use crate::rules::Rule;
use crate::types::ContractStatus;

/// SUB-003: the contract is not active (at `/contract_id`).
pub fn contract_not_active(contract: &ContractInput) -> Option<Finding> {
    (contract.status != ContractStatus::Active).then(|| {
        Finding::of(
            Rule::Sub003,
            "/contract_id",
            format!("the contract is {}", contract.status),
        )
    })
}

/// SUB-003: a period that must lie within the contract's dates does not (at
/// `/period_start`).
pub fn period_outside_contract(
    contract: &ContractInput,
    (start, end): (NaiveDate, NaiveDate),
) -> Option<Finding> {
    let before_start = start < contract.start_date;
    let after_end = contract.end_date.is_some_and(|last| end > last);
    (before_start || after_end).then(|| {
        Finding::of(
            Rule::Sub003,
            "/period_start",
            "the period is outside the contract's dates",
        )
    })
}

/// AGR-001: the person has no agreement on the contract; `at(field)` points at a line.
pub fn no_agreement(at: impl Fn(&str) -> String) -> Finding {
    Finding::of(
        Rule::Agr001,
        at("person_ref"),
        "the person has no service agreement on this contract",
    )
}

/// AGR-002: the date is outside the agreement's start and end.
pub fn outside_agreement(
    agreement: &AgreementInput,
    date: NaiveDate,
    at: impl Fn(&str) -> String,
) -> Option<Finding> {
    (!agreement.in_force_on(date)).then(|| {
        Finding::of(
            Rule::Agr002,
            at("date"),
            "the date is outside the agreement's start and end",
        )
    })
}

/// AGR-003: the agreement is suspended on the date.
pub fn agreement_suspended(
    agreement: &AgreementInput,
    date: NaiveDate,
    at: impl Fn(&str) -> String,
) -> Option<Finding> {
    agreement.suspended_on(date).then(|| {
        Finding::of(
            Rule::Agr003,
            at("date"),
            "the agreement is suspended on that date",
        )
    })
}

/// A time limit of a placement that attendance can run past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimeLimit {
    /// REG-013: the care plan review more than 28 days overdue.
    Review,
    /// AGR-007: an enabling placement past its 12 weeks.
    Enablement,
}

/// The time limits attended sessions ran past: each limit once a person, at their first
/// session past it. `attended` yields each attended session's line index, person and
/// date in line order; `at(i, field)` points at a line's field. Each finding comes with
/// the index of its line.
pub fn time_limits<'a>(
    limits: &[TimeLimit],
    attended: impl IntoIterator<Item = (usize, &'a str, NaiveDate)>,
    agreements: &BTreeMap<&str, &AgreementInput>,
    at: impl Fn(usize, &str) -> String,
) -> Vec<(usize, Finding)> {
    let mut findings = Vec::new();
    let mut flagged: BTreeSet<(TimeLimit, &str)> = BTreeSet::new();
    for (i, person, date) in attended {
        let Some(agreement) = agreements.get(person) else {
            continue;
        };
        for &limit in limits {
            let finding = match limit {
                TimeLimit::Review => agreement.review_overdue_on(date).map(|due| {
                    Finding::of(
                        Rule::Reg013,
                        at(i, "person_ref"),
                        format!(
                            "the person's care plan review was due on {due}, more than {REVIEW_GRACE_DAYS} days before this session"
                        ),
                    )
                }),
                TimeLimit::Enablement => agreement
                    .enablement_ends()
                    .filter(|ends| date > *ends)
                    .map(|ends| {
                        Finding::of(
                            Rule::Agr007,
                            at(i, "date"),
                            format!(
                                "the enabling placement started on {}: its {ENABLEMENT_WEEKS} weeks ended on {ends}",
                                agreement.start_date
                            ),
                        )
                    }),
            };
            if let Some(finding) = finding {
                if flagged.insert((limit, person)) {
                    findings.push((i, finding));
                }
            }
        }
    }
    findings
}
