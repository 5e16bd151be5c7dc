//! A person's history across every provider (SPEC §6, `GET /v1/people/{person_ref}`):
//! their agreements, attendance by week, priced claim lines with their payment, and the
//! outcomes workbooks record for them. Each part is read by the person's reference
//! through its own index.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Integer, Nullable, Text};
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::agreement::{AssessedBand, Suspension};
use dayops_domain::register::{AttendanceStatus, OutcomeTag};
use dayops_domain::submission::SubmissionStatus;
use dayops_domain::types::{
    AbsenceReason, Funding, Item, Pathway, Quantity, ServiceType, SessionType, SupportReason,
};
use dayops_domain::workbook::{OutcomeDomain, OutcomeStatus};

use crate::day::{Day, OptionalDay};
use crate::error::{from_json, vocab, StoreError};
use crate::DbConnection;

/// One of the person's placements, with its provider.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlacementEntry {
    pub agreement_id: String,
    pub contract_id: String,
    pub contract_reference: String,
    pub service_type: ServiceType,
    pub provider_id: String,
    pub provider_name: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub pathway: Pathway,
    pub primary_support_reason: Option<SupportReason>,
    pub funding: Funding,
    pub care_plan_review_due: Option<NaiveDate>,
    /// The assessed bands in date order: each change of band is an entry.
    pub need_bands: Vec<AssessedBand>,
    pub suspensions: Vec<Suspension>,
}

/// An absence recorded in a register.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AbsenceEntry {
    pub date: NaiveDate,
    pub session_type: SessionType,
    pub absence_reason: Option<AbsenceReason>,
    pub notice_hours: Option<i32>,
}

/// The person's week at one provider, from the current version of its register.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AttendanceWeek {
    pub week_start: NaiveDate,
    pub contract_id: String,
    pub provider_id: String,
    pub register_id: String,
    pub register_status: SubmissionStatus,
    pub sessions_attended: i64,
    pub sessions_in_community: i64,
    pub provider_cancelled: i64,
    pub absences: Vec<AbsenceEntry>,
    /// Every outcome tag recorded for the person that week.
    pub outcome_tags: Vec<OutcomeTag>,
}

/// A priced claim line of the person's, from the current version of its claim.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClaimLineEntry {
    pub date: NaiveDate,
    pub claim_id: String,
    pub contract_id: String,
    pub provider_id: String,
    pub claim_status: SubmissionStatus,
    pub item: Item,
    pub session_type: Option<SessionType>,
    pub accepted_quantity: Quantity,
    pub need_band: String,
    pub accepted_amount_pence: i64,
    /// When the claim was paid, and the remittance.
    pub paid_on: Option<NaiveDate>,
    pub remittance_ref: Option<String>,
}

/// An outcome a quarter's workbook records for the person.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutcomeEntry {
    /// `YYYY-Qn` of the financial year.
    #[schema(example = "2026-Q1")]
    pub quarter: String,
    pub workbook_id: String,
    pub contract_id: String,
    pub provider_id: String,
    pub workbook_status: SubmissionStatus,
    pub domain: OutcomeDomain,
    pub status: OutcomeStatus,
}

/// Everything the council holds about one person, each part in date order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Timeline {
    pub person_ref: String,
    pub placements: Vec<PlacementEntry>,
    pub attendance: Vec<AttendanceWeek>,
    pub claim_lines: Vec<ClaimLineEntry>,
    pub outcomes: Vec<OutcomeEntry>,
}

impl Timeline {
    pub fn is_empty(&self) -> bool {
        self.placements.is_empty()
            && self.attendance.is_empty()
            && self.claim_lines.is_empty()
            && self.outcomes.is_empty()
    }
}

/// The person's placements in force at some time in the period; binds: the person, the
/// period's end, its start.
pub const PLACEMENTS_SQL: &str = "\
SELECT a.id AS agreement_id, a.contract_id AS contract_id, c.reference AS contract_reference, \
       c.service_type AS service_type, c.provider_id AS provider_id, p.name AS provider_name, \
       a.start_date AS start_date, a.end_date AS end_date, a.pathway AS pathway, \
       a.primary_support_reason AS primary_support_reason, a.funding AS funding, \
       a.care_plan_review_due AS care_plan_review_due, a.need_bands AS need_bands, \
       a.suspensions AS suspensions \
FROM agreements a JOIN contracts c ON c.id = a.contract_id JOIN providers p ON p.id = c.provider_id \
WHERE a.person_ref = ? AND a.start_date <= ? AND (a.end_date IS NULL OR a.end_date >= ?) \
ORDER BY a.start_date, c.reference";

/// The SQL types of [`PLACEMENTS_SQL`]'s columns, in order.
type PlacementColumns = (
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Date,
    Nullable<Date>,
    Text,
    Nullable<Text>,
    Text,
    Nullable<Date>,
    Text,
    Text,
);

#[derive(Queryable)]
struct PlacementSql {
    agreement_id: String,
    contract_id: String,
    contract_reference: String,
    service_type: String,
    provider_id: String,
    provider_name: String,
    #[diesel(deserialize_as = Day)]
    start_date: NaiveDate,
    #[diesel(deserialize_as = OptionalDay)]
    end_date: Option<NaiveDate>,
    pathway: String,
    primary_support_reason: Option<String>,
    funding: String,
    #[diesel(deserialize_as = OptionalDay)]
    care_plan_review_due: Option<NaiveDate>,
    need_bands: String,
    suspensions: String,
}

/// The person's register lines in the period, current versions; binds: the person, the
/// period's start, its end.
pub const ATTENDANCE_SQL: &str = "\
SELECT s.id AS register_id, s.contract_id AS contract_id, s.provider_id AS provider_id, \
       s.period_start AS week_start, s.status AS register_status, l.date AS date, \
       l.session_type AS session_type, l.status AS status, l.absence_reason AS absence_reason, \
       l.notice_hours AS notice_hours, l.community_access AS community_access, \
       l.outcome_tags AS outcome_tags \
FROM register_lines l JOIN submissions s ON s.id = l.submission_id AND l.version = s.current_version \
WHERE l.person_ref = ? AND l.date >= ? AND l.date <= ? AND s.kind = 'register' \
ORDER BY s.period_start, s.contract_id, l.date, l.line_no";

/// The SQL types of [`ATTENDANCE_SQL`]'s columns, in order.
type AttendanceColumns = (
    Text,
    Text,
    Text,
    Date,
    Text,
    Date,
    Text,
    Text,
    Nullable<Text>,
    Nullable<Integer>,
    Bool,
    Text,
);

#[derive(Queryable)]
struct AttendanceSql {
    register_id: String,
    contract_id: String,
    provider_id: String,
    #[diesel(deserialize_as = Day)]
    week_start: NaiveDate,
    register_status: String,
    #[diesel(deserialize_as = Day)]
    date: NaiveDate,
    session_type: String,
    status: String,
    absence_reason: Option<String>,
    notice_hours: Option<i32>,
    community_access: bool,
    outcome_tags: String,
}

/// The person's claim lines in the period, current versions, with the claim's payment;
/// binds as [`ATTENDANCE_SQL`].
pub const CLAIM_LINES_SQL: &str = "\
SELECT s.id AS claim_id, s.contract_id AS contract_id, s.provider_id AS provider_id, \
       s.status AS claim_status, l.date AS date, l.item AS item, l.session_type AS session_type, \
       l.accepted_quantity_quarters AS quarters, COALESCE(l.accepted_need_band, l.need_band) AS need_band, \
       l.accepted_amount_pence AS amount_pence, cs.paid_on AS paid_on, cs.remittance_ref AS remittance_ref \
FROM claim_lines l JOIN submissions s ON s.id = l.submission_id AND l.version = s.current_version \
LEFT JOIN claim_states cs ON cs.submission_id = s.id \
WHERE l.person_ref = ? AND l.date >= ? AND l.date <= ? AND s.kind = 'claim' \
ORDER BY l.date, s.id, l.line_no";

/// The SQL types of [`CLAIM_LINES_SQL`]'s columns, in order.
type ClaimLineColumns = (
    Text,
    Text,
    Text,
    Text,
    Date,
    Text,
    Nullable<Text>,
    BigInt,
    Text,
    BigInt,
    Nullable<Date>,
    Nullable<Text>,
);

#[derive(Queryable)]
struct ClaimLineSql {
    claim_id: String,
    contract_id: String,
    provider_id: String,
    claim_status: String,
    #[diesel(deserialize_as = Day)]
    date: NaiveDate,
    item: String,
    session_type: Option<String>,
    quarters: i64,
    need_band: String,
    amount_pence: i64,
    #[diesel(deserialize_as = OptionalDay)]
    paid_on: Option<NaiveDate>,
    remittance_ref: Option<String>,
}

/// The outcomes current workbook versions of quarters meeting the period record for the
/// person; binds as [`ATTENDANCE_SQL`].
pub const OUTCOMES_SQL: &str = "\
SELECT s.id AS workbook_id, s.contract_id AS contract_id, s.provider_id AS provider_id, \
       s.period_key AS quarter, s.status AS workbook_status, o.domain AS domain, o.status AS status \
FROM workbook_person_outcomes o JOIN submissions s ON s.id = o.submission_id AND o.version = s.current_version \
WHERE o.person_ref = ? AND s.period_end >= ? AND s.period_start <= ? AND s.kind = 'workbook' \
ORDER BY s.period_start, s.contract_id, o.position";

/// The SQL types of [`OUTCOMES_SQL`]'s columns, in order.
type OutcomeColumns = (Text, Text, Text, Text, Text, Text, Text);

#[derive(Queryable)]
struct OutcomeSql {
    workbook_id: String,
    contract_id: String,
    provider_id: String,
    quarter: String,
    workbook_status: String,
    domain: String,
    status: String,
}

fn status(text: &str) -> Result<SubmissionStatus, StoreError> {
    vocab("submissions.status", text, SubmissionStatus::parse)
}

/// The person's history from `from` to `to` across every provider.
pub fn timeline(
    conn: &mut DbConnection,
    person_ref: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Timeline, StoreError> {
    let person = person_ref.to_string();
    let placements = crate::load_kept_sql!(
        conn,
        PLACEMENTS_SQL,
        PlacementColumns,
        PlacementSql,
        [(Text, &person), (Date, to), (Date, from)]
    )?
    .into_iter()
    .map(|r| {
        Ok(PlacementEntry {
            service_type: vocab(
                "contracts.service_type",
                &r.service_type,
                ServiceType::parse,
            )?,
            pathway: vocab("agreements.pathway", &r.pathway, Pathway::parse)?,
            primary_support_reason: r
                .primary_support_reason
                .as_deref()
                .map(|s| vocab("agreements.primary_support_reason", s, SupportReason::parse))
                .transpose()?,
            funding: vocab("agreements.funding", &r.funding, Funding::parse)?,
            need_bands: from_json("agreements.need_bands", &r.need_bands)?,
            suspensions: from_json("agreements.suspensions", &r.suspensions)?,
            agreement_id: r.agreement_id,
            contract_id: r.contract_id,
            contract_reference: r.contract_reference,
            provider_id: r.provider_id,
            provider_name: r.provider_name,
            start_date: r.start_date,
            end_date: r.end_date,
            care_plan_review_due: r.care_plan_review_due,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;

    let lines = crate::load_kept_sql!(
        conn,
        ATTENDANCE_SQL,
        AttendanceColumns,
        AttendanceSql,
        [(Text, &person), (Date, from), (Date, to)]
    )?;
    let mut attendance: Vec<AttendanceWeek> = Vec::new();
    for l in lines {
        let same_week = attendance
            .last()
            .is_some_and(|w| w.register_id == l.register_id);
        if !same_week {
            attendance.push(AttendanceWeek {
                week_start: l.week_start,
                contract_id: l.contract_id.clone(),
                provider_id: l.provider_id.clone(),
                register_id: l.register_id.clone(),
                register_status: status(&l.register_status)?,
                sessions_attended: 0,
                sessions_in_community: 0,
                provider_cancelled: 0,
                absences: Vec::new(),
                outcome_tags: Vec::new(),
            });
        }
        let Some(week) = attendance.last_mut() else {
            continue;
        };
        let session_type = vocab(
            "register_lines.session_type",
            &l.session_type,
            SessionType::parse,
        )?;
        match vocab("register_lines.status", &l.status, AttendanceStatus::parse)? {
            AttendanceStatus::Attended => {
                week.sessions_attended += 1;
                week.sessions_in_community += i64::from(l.community_access);
            }
            AttendanceStatus::ProviderCancelled => week.provider_cancelled += 1,
            AttendanceStatus::Absent => week.absences.push(AbsenceEntry {
                date: l.date,
                session_type,
                absence_reason: l
                    .absence_reason
                    .as_deref()
                    .map(|r| vocab("register_lines.absence_reason", r, AbsenceReason::parse))
                    .transpose()?,
                notice_hours: l.notice_hours,
            }),
        }
        for tag in l.outcome_tags.split(',').filter(|t| !t.is_empty()) {
            let tag = vocab("register_lines.outcome_tags", tag, OutcomeTag::parse)?;
            if !week.outcome_tags.contains(&tag) {
                week.outcome_tags.push(tag);
            }
        }
    }
    for week in &mut attendance {
        week.outcome_tags.sort();
    }

    let claim_lines = crate::load_kept_sql!(
        conn,
        CLAIM_LINES_SQL,
        ClaimLineColumns,
        ClaimLineSql,
        [(Text, &person), (Date, from), (Date, to)]
    )?
    .into_iter()
    .map(|r| {
        Ok(ClaimLineEntry {
            claim_status: status(&r.claim_status)?,
            item: vocab("claim_lines.item", &r.item, Item::parse)?,
            session_type: r
                .session_type
                .as_deref()
                .map(|s| vocab("claim_lines.session_type", s, SessionType::parse))
                .transpose()?,
            accepted_quantity: Quantity::from_quarters(
                u32::try_from(r.quarters)
                    .map_err(|_| StoreError::Corrupt(format!("quantity {}", r.quarters)))?,
            ),
            date: r.date,
            claim_id: r.claim_id,
            contract_id: r.contract_id,
            provider_id: r.provider_id,
            need_band: r.need_band,
            accepted_amount_pence: r.amount_pence,
            paid_on: r.paid_on,
            remittance_ref: r.remittance_ref,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;

    let outcomes = crate::load_kept_sql!(
        conn,
        OUTCOMES_SQL,
        OutcomeColumns,
        OutcomeSql,
        [(Text, &person), (Date, from), (Date, to)]
    )?
    .into_iter()
    .map(|r| {
        Ok(OutcomeEntry {
            quarter: r.quarter,
            workbook_status: status(&r.workbook_status)?,
            domain: vocab(
                "workbook_person_outcomes.domain",
                &r.domain,
                OutcomeDomain::parse,
            )?,
            status: vocab(
                "workbook_person_outcomes.status",
                &r.status,
                OutcomeStatus::parse,
            )?,
            workbook_id: r.workbook_id,
            contract_id: r.contract_id,
            provider_id: r.provider_id,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;

    Ok(Timeline {
        person_ref: person_ref.to_string(),
        placements,
        attendance,
        claim_lines,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Connection, InstrumentationEvent};

    use super::*;

    /// A timeline's four statements are prepared on a connection's first timeline and kept
    /// there, each with its binds hidden from SQLite's planner (`CAST(? AS TEXT)`): the
    /// next timeline, of another person, prepares none.
    #[test]
    fn a_timelines_statements_are_prepared_once_on_a_connection() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::establish(dir.path().join("people.db").to_str().unwrap()).unwrap();
        crate::run_migrations(&mut conn).unwrap();
        // Diesel reports each statement as it adds it to the connection's cache.
        let kept = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&kept);
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_string());
            }
        });
        let (from, to) = (NaiveDate::MIN, NaiveDate::MAX);
        assert!(timeline(&mut conn, "P-1", from, to).unwrap().is_empty());
        {
            let kept = kept.lock().unwrap();
            assert_eq!(kept.len(), 4);
            assert!(kept
                .iter()
                .all(|sql| sql.contains("person_ref = CAST(? AS TEXT)") && !sql.contains(" ? ")));
        }
        assert!(timeline(&mut conn, "P-2", from, to).unwrap().is_empty());
        assert_eq!(kept.lock().unwrap().len(), 4);
    }
}
