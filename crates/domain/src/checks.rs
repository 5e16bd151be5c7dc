//! The checks every kind of submission shares, each worded once: the contract in force
//! (SUB-003) and a person's agreement on a date (AGR-001 to AGR-003). Each kind decides
//! what follows a finding (a register line stops at a missing agreement; a claim line is
//! priced at nothing).

use chrono::NaiveDate;

use crate::agreement::AgreementInput;
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
