//! Quarterly workbooks: validated against the contract, its agreements and the quarter's
//! registers, stored with their KPI results.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::contract::Contract;
use dayops_domain::finding::Report;
use dayops_domain::register::AttendanceStatus;
use dayops_domain::submission::{SubmissionKind, SubmissionStatus};
use dayops_domain::workbook::{
    kpi_results, people_in_quarter, validate_workbook, KpiResult, Quarter, Rag, WorkbookContext,
    WorkbookInput, CURRENT_TEMPLATE_VERSION,
};

use crate::error::StoreError;
use crate::pipeline::Kind;
use crate::schema::submissions as submission_rows;
use crate::schema::{register_lines, workbook_kpis, workbook_person_outcomes};
use crate::submissions::StoredVersion;
use crate::{contracts, reference, DbConnection};

const KIND: SubmissionKind = SubmissionKind::Workbook;

/// People who attended in the contract's current, not rejected registers of the quarter.
fn attenders(
    conn: &mut DbConnection,
    contract_id: &str,
    quarter: Quarter,
) -> Result<BTreeSet<String>, StoreError> {
    let people: Vec<String> = crate::registers::current_register_lines()
        .filter(submission_rows::contract_id.eq(contract_id))
        .filter(register_lines::status.eq(AttendanceStatus::Attended.as_str()))
        .filter(register_lines::date.between(quarter.start(), quarter.end()))
        .select(register_lines::person_ref)
        .distinct()
        .load(conn)?;
    Ok(people.into_iter().collect())
}

/// Findings and KPI results of a workbook against stored state.
fn assess(
    conn: &mut DbConnection,
    contract: &Contract,
    workbook: &WorkbookInput,
    quarter: Quarter,
    today: NaiveDate,
) -> Result<(Report, Vec<KpiResult>), StoreError> {
    let agreements = reference::agreements_of(conn, &contract.id)?;
    let attenders = attenders(conn, &contract.id, quarter)?;
    let community_access_pct =
        crate::reports::register_outcomes(conn, quarter, Some(&contract.id), None)?
            .remove(&contract.id)
            .and_then(|measured| measured.registers.community_access_pct);
    let ctx = WorkbookContext {
        contract: &contract.terms,
        agreements: &agreements,
        attenders: &attenders,
        community_access_pct,
        current_template_version: CURRENT_TEMPLATE_VERSION,
        today,
    };
    Ok((
        Report::of(validate_workbook(workbook, &ctx)),
        kpi_results(workbook, &contract.terms),
    ))
}

fn write_kpis(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    kpis: &[KpiResult],
) -> Result<(), StoreError> {
    for kpi in kpis {
        let rag = kpi.rag.as_str();
        diesel::insert_into(workbook_kpis::table)
            .values((
                workbook_kpis::submission_id.eq(id),
                workbook_kpis::version.eq(version),
                workbook_kpis::code.eq(&kpi.code),
                workbook_kpis::value.eq(kpi.value),
                workbook_kpis::target.eq(kpi.target),
                workbook_kpis::amber_below.eq(kpi.amber_below),
                workbook_kpis::rag.eq(rag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The person outcomes of a version as rows, found by person for a person's timeline.
fn write_person_outcomes(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    workbook: &WorkbookInput,
) -> Result<(), StoreError> {
    let rows: Vec<_> = workbook
        .person_outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            (
                workbook_person_outcomes::submission_id.eq(id),
                workbook_person_outcomes::version.eq(version),
                workbook_person_outcomes::position.eq(i32::try_from(i).unwrap_or(i32::MAX)),
                workbook_person_outcomes::person_ref.eq(o.person_ref.as_str()),
                workbook_person_outcomes::domain.eq(o.domain.as_str()),
                workbook_person_outcomes::status.eq(o.status.as_str()),
            )
        })
        .collect();
    // Six columns a row, well under SQLite's parameter limit a chunk.
    for chunk in rows.chunks(1_000) {
        crate::insert_rows!(conn, workbook_person_outcomes::table, chunk)?;
    }
    Ok(())
}

/// The KPI results stored with a version.
pub fn kpis(conn: &mut DbConnection, id: &str, version: i32) -> Result<Vec<KpiResult>, StoreError> {
    let rows: Vec<(String, f64, f64, f64, String)> = workbook_kpis::table
        .filter(workbook_kpis::submission_id.eq(id))
        .filter(workbook_kpis::version.eq(version))
        .order(workbook_kpis::code.asc())
        .select((
            workbook_kpis::code,
            workbook_kpis::value,
            workbook_kpis::target,
            workbook_kpis::amber_below,
            workbook_kpis::rag,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(code, value, target, amber_below, rag)| {
            Ok(KpiResult {
                code,
                value,
                target,
                amber_below,
                rag: crate::error::vocab("workbook_kpis.rag", &rag, Rag::parse)?,
            })
        })
        .collect()
}

/// What the council pre-fills in a quarter's template: the contract (if the caller may
/// see it) and the people with an agreement on it in the quarter, in order.
pub fn template_content(
    conn: &mut DbConnection,
    scope: Option<&str>,
    contract_id: &str,
    quarter: Quarter,
) -> Result<(Contract, Vec<String>), StoreError> {
    let contract = contracts::visible(conn, contract_id, scope)?;
    let agreements = reference::agreements_of(conn, contract_id)?;
    let people = people_in_quarter(&agreements, quarter)
        .into_iter()
        .map(str::to_string)
        .collect();
    Ok((contract, people))
}

/// Workbooks in the submission pipeline: the assessment is the report and the KPI
/// results stored with the version.
pub struct Workbooks;

impl Kind for Workbooks {
    const KIND: SubmissionKind = KIND;
    const PERIOD_POINTER: &'static str = "/quarter";
    type Input = WorkbookInput;
    type Assessment = (Report, Vec<KpiResult>);

    fn contract_id(workbook: &WorkbookInput) -> &str {
        &workbook.contract_id
    }

    fn period(workbook: &WorkbookInput) -> Result<(NaiveDate, NaiveDate, String), StoreError> {
        let quarter = workbook.quarter;
        Ok((quarter.start(), quarter.end(), quarter.to_string()))
    }

    fn assess(
        conn: &mut DbConnection,
        contract: &Contract,
        workbook: &WorkbookInput,
        today: NaiveDate,
        _amending: Option<&str>,
    ) -> Result<Self::Assessment, StoreError> {
        assess(conn, contract, workbook, workbook.quarter, today)
    }

    fn report((report, _): &Self::Assessment) -> Report {
        report.clone()
    }

    fn status(workbook: &WorkbookInput, (report, _): &Self::Assessment) -> SubmissionStatus {
        SubmissionStatus::of_report(report, &workbook.acknowledged_warnings)
    }

    fn write_rows(
        conn: &mut DbConnection,
        version: &StoredVersion,
        workbook: &WorkbookInput,
        (_, kpis): &Self::Assessment,
    ) -> Result<(), StoreError> {
        let (id, number) = (&version.envelope.id, version.envelope.version);
        write_kpis(conn, id, number, kpis)?;
        write_person_outcomes(conn, id, number, workbook)
    }

    const DERIVED_ACTION: Option<&'static str> = Some("kpi");

    /// The KPI results as stored (code order), hashed as canonical JSON.
    fn derived_sha256(
        conn: &mut DbConnection,
        id: &str,
        version: i32,
    ) -> Result<Option<String>, StoreError> {
        let kpis = serde_json::to_value(kpis(conn, id, version)?)
            .map_err(|e| StoreError::Corrupt(format!("workbook_kpis: {e}")))?;
        Ok(Some(dayops_domain::canonical::content_sha256(&kpis)))
    }
}
