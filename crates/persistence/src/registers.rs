//! Registers: validated against the contract, its matrix, its agreements and every other
//! current register, then stored with their lines in one transaction.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use diesel::prelude::*;

use dayops_domain::audit::Actor;
use dayops_domain::contract::Contract;
use dayops_domain::finding::Report;
use dayops_domain::outcomes::{PersonWeek, WeekMeasures};
use dayops_domain::register::{
    session_slots, validate_register, AttendanceStatus, BookedSession, RegisterContext,
    RegisterInput,
};
use dayops_domain::submission::{SubmissionKind, SubmissionStatus};
use dayops_domain::types::{Hours, SessionType};

use crate::error::{vocab, StoreError};
use crate::pipeline::{keyed_by_start, Kind};
use crate::schema::submissions as submission_rows;
use crate::schema::{attendance_slots, register_lines, register_person_weeks};
use crate::submissions::StoredVersion;
use crate::{reference, DbConnection};

/// Rows a multi-row insert may carry: 14 columns each, under SQLite's 32,766 parameters.
const INSERT_CHUNK: usize = 2_000;
/// People per `IN (…)` list when looking up other registers.
const LOOKUP_CHUNK: usize = 5_000;

#[derive(Insertable)]
#[diesel(table_name = register_lines)]
// An absent value is NULL, not the column's DEFAULT (no column has one): PostgreSQL's COPY
// needs it, and SQLite's multi-row insert too (see `insert_rows!`).
#[diesel(treat_none_as_default_value = false)]
struct LineRow<'a> {
    submission_id: &'a str,
    version: i32,
    line_no: i32,
    person_ref: &'a str,
    date: NaiveDate,
    session_type: &'static str,
    status: &'static str,
    absence_reason: Option<&'static str>,
    notice_hours: Option<i32>,
    one_to_one_quarter_hours: Option<i32>,
    transport_journeys: i32,
    meal: bool,
    community_access: bool,
    outcome_tags: String,
}

fn insert_lines(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    register: &RegisterInput,
) -> Result<(), StoreError> {
    let rows = register
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            Ok(LineRow {
                submission_id: id,
                version,
                line_no: i32::try_from(i)
                    .map_err(|_| StoreError::invalid("/lines", "too many lines"))?,
                person_ref: &line.person_ref,
                date: line.date,
                session_type: line.session_type.as_str(),
                status: line.status.as_str(),
                absence_reason: line.absence_reason.map(|r| r.as_str()),
                notice_hours: line
                    .notice_hours
                    .map(|h| i32::try_from(h).unwrap_or(i32::MAX)),
                // Hours that are not whole quarters are stored as absent; REG-004 rejected them.
                one_to_one_quarter_hours: line
                    .one_to_one_hours
                    .and_then(Hours::from_f64)
                    .and_then(|h| i32::try_from(h.quarters()).ok()),
                transport_journeys: i32::try_from(line.transport_journeys).unwrap_or(i32::MAX),
                meal: line.meal,
                community_access: line.community_access,
                outcome_tags: line
                    .outcome_tags
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    crate::copy_rows!(conn, register_lines::table, &rows, INSERT_CHUNK)?;
    Ok(())
}

/// The statement that gives a register version's attended lines their parts of the day:
/// one `INSERT … SELECT` over the lines just written (binds: submission id, version,
/// contract id), the parts of each session type taken from the domain's rule.
///
/// Only people with an agreement on another contract take parts: a register that is not
/// rejected has an agreement on its own contract for everyone in it (AGR-001), and its
/// contract has one register a week, so nobody else can clash with them.
fn hold_slots_sql() -> String {
    let parts: Vec<String> = SessionType::ALL
        .iter()
        .flat_map(|st| {
            session_slots(*st)
                .iter()
                .map(move |slot| format!("('{}', '{slot}')", st.as_str()))
        })
        .collect();
    format!(
        "INSERT INTO attendance_slots (person_ref, date, slot, submission_id) \
         WITH parts (session_type, slot) AS (VALUES {}) \
         SELECT DISTINCT l.person_ref, l.date, p.slot, l.submission_id \
         FROM register_lines l JOIN parts p ON p.session_type = l.session_type \
         WHERE l.submission_id = ? AND l.version = ? AND l.status = 'attended' \
         AND EXISTS (SELECT 1 FROM agreements a \
                     WHERE a.person_ref = l.person_ref AND a.contract_id <> ?)",
        parts.join(", ")
    )
}

/// Hands register `id`'s parts of the day to `version`: released, then taken again unless
/// the version is rejected. A part another register holds is a unique violation, which
/// rolls the write back; the caller retries and the rules then see that register.
fn hold_slots(conn: &mut DbConnection, stored: &StoredVersion) -> Result<(), StoreError> {
    let id = stored.envelope.id.as_str();
    diesel::delete(attendance_slots::table.filter(attendance_slots::submission_id.eq(id)))
        .execute(conn)?;
    if stored.envelope.status != SubmissionStatus::Rejected {
        crate::execute_sql!(
            conn,
            &hold_slots_sql(),
            [
                (diesel::sql_types::Text, id),
                (diesel::sql_types::Integer, stored.envelope.version),
                (diesel::sql_types::Text, &stored.header.contract_id),
            ]
        )?;
    }
    Ok(())
}

/// The lines of every register's current version that is not rejected: what counts of a
/// register for REG-006, the claim rules and the workbook rules. Callers add their own
/// filters (contract, people, dates) and select what they read.
#[diesel::dsl::auto_type(no_type_alias)]
pub(crate) fn current_register_lines() -> _ {
    let kind: &'static str = SubmissionKind::Register.as_str();
    let rejected: &'static str = SubmissionStatus::Rejected.as_str();
    register_lines::table
        .inner_join(
            submission_rows::table.on(submission_rows::id
                .eq(register_lines::submission_id)
                .and(submission_rows::current_version.eq(register_lines::version))),
        )
        .filter(submission_rows::kind.eq(kind))
        .filter(submission_rows::status.ne(rejected))
}

/// Attended sessions of the register's people on its dates in the current version of
/// every other register that is not rejected, under any provider.
fn other_sessions(
    conn: &mut DbConnection,
    register: &RegisterInput,
    exclude: Option<&str>,
) -> Result<Vec<BookedSession>, StoreError> {
    let rows = match conn {
        DbConnection::Postgresql(pg) => other_sessions_pg(pg, register, exclude)?,
        DbConnection::Sqlite(_) => other_sessions_by_people(conn, register, exclude)?,
    };
    rows.into_iter()
        .map(|(person_ref, date, session_type)| {
            Ok(BookedSession {
                person_ref,
                date,
                session_type: vocab(
                    "register_lines.session_type",
                    &session_type,
                    SessionType::parse,
                )?,
            })
        })
        .collect()
}

type SessionRow = (String, NaiveDate, String);

/// REG-006's lookup on PostgreSQL ($1 people and $2 dates, pairwise; $3 the attended
/// status, $4 the register kind, $5 the rejected status, $6 a register to leave out).
pub const OTHER_SESSIONS_PG: &str = "SELECT l.person_ref, l.date, l.session_type \
         FROM unnest($1::text[], $2::date[]) AS k (person_ref, date) \
         CROSS JOIN LATERAL ( \
             SELECT l.person_ref, l.date, l.session_type, l.submission_id, l.version \
             FROM register_lines l \
             WHERE l.person_ref = k.person_ref AND l.date = k.date AND l.status = $3 \
             OFFSET 0 \
         ) l \
         JOIN submissions s ON s.id = l.submission_id AND s.current_version = l.version \
         WHERE s.kind = $4 AND s.status <> $5 AND s.id <> $6";

/// On PostgreSQL the lookup is driven from the register's own (person, date) pairs, each
/// found through the `(person_ref, date)` index by a LATERAL subquery (`OFFSET 0` keeps
/// the planner from flattening it back into a join it may drive from `submissions`: 7.6 s
/// against 2.6 ms for 500 pairs over 320 registers, never analysed). Planned the
/// obvious way (people IN …, dates BETWEEN …, joined to the current versions), a database
/// whose statistics are stale or missing (autovacuum off, or not yet run) scans every
/// register's lines for each submission, so each register costs more than the last:
/// 37 % of the raw INSERT rate at 320 registers, against 67 % without the lookup.
fn other_sessions_pg(
    conn: &mut diesel::PgConnection,
    register: &RegisterInput,
    exclude: Option<&str>,
) -> Result<Vec<SessionRow>, StoreError> {
    use diesel::sql_types::{Array, Date, Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        person_ref: String,
        #[diesel(sql_type = Date)]
        date: NaiveDate,
        #[diesel(sql_type = Text)]
        session_type: String,
    }
    let keys: BTreeSet<(&str, NaiveDate)> = register
        .lines
        .iter()
        .map(|l| (l.person_ref.as_str(), l.date))
        .collect();
    let (people, dates): (Vec<&str>, Vec<NaiveDate>) = keys.into_iter().unzip();
    let rows: Vec<Row> = diesel::sql_query(OTHER_SESSIONS_PG)
        .bind::<Array<Text>, _>(people)
        .bind::<Array<Date>, _>(dates)
        .bind::<Text, _>(AttendanceStatus::Attended.as_str())
        .bind::<Text, _>(SubmissionKind::Register.as_str())
        .bind::<Text, _>(SubmissionStatus::Rejected.as_str())
        .bind::<Text, _>(exclude.unwrap_or(""))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.person_ref, r.date, r.session_type))
        .collect())
}

/// On SQLite (whose planner takes the index for this shape): the register's people on
/// dates within its period.
fn other_sessions_by_people(
    conn: &mut DbConnection,
    register: &RegisterInput,
    exclude: Option<&str>,
) -> Result<Vec<SessionRow>, StoreError> {
    let people: Vec<&str> = register
        .lines
        .iter()
        .map(|l| l.person_ref.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let Some(first) = register.lines.iter().map(|l| l.date).min() else {
        return Ok(Vec::new());
    };
    let last = register.lines.iter().map(|l| l.date).max().unwrap_or(first);
    let mut booked = Vec::new();
    for chunk in people.chunks(LOOKUP_CHUNK) {
        let mut query = current_register_lines()
            .filter(register_lines::status.eq(AttendanceStatus::Attended.as_str()))
            .filter(register_lines::person_ref.eq_any(chunk))
            .filter(register_lines::date.between(first, last))
            .select((
                register_lines::person_ref,
                register_lines::date,
                register_lines::session_type,
            ))
            .into_boxed();
        if let Some(exclude) = exclude {
            query = query.filter(submission_rows::id.ne(exclude.to_string()));
        }
        booked.extend(query.load::<SessionRow>(conn)?);
    }
    Ok(booked)
}

/// Runs every register rule against stored state.
fn report(
    conn: &mut DbConnection,
    contract: &Contract,
    register: &RegisterInput,
    today: NaiveDate,
    exclude: Option<&str>,
) -> Result<Report, StoreError> {
    let (versions, agreements) = reference::rules_reference(conn, &contract.id)?;
    let other = other_sessions(conn, register, exclude)?;
    let ctx = RegisterContext {
        contract: &contract.terms,
        matrix: &versions,
        agreements: &agreements,
        other_sessions: &other,
        today,
    };
    Ok(Report::of(validate_register(register, &ctx)))
}

/// Registers in the submission pipeline.
pub struct Registers;

impl Kind for Registers {
    const KIND: SubmissionKind = SubmissionKind::Register;
    type Input = RegisterInput;
    type Assessment = Report;

    fn contract_id(register: &RegisterInput) -> &str {
        &register.contract_id
    }

    fn period(register: &RegisterInput) -> Result<(NaiveDate, NaiveDate, String), StoreError> {
        keyed_by_start(register.period_start, register.period_end)
    }

    fn assess(
        conn: &mut DbConnection,
        contract: &Contract,
        register: &RegisterInput,
        today: NaiveDate,
        amending: Option<&str>,
    ) -> Result<Report, StoreError> {
        report(conn, contract, register, today, amending)
    }

    fn report(report: &Report) -> Report {
        report.clone()
    }

    fn status(register: &RegisterInput, report: &Report) -> SubmissionStatus {
        SubmissionStatus::of_report(report, &register.acknowledged_warnings)
    }

    fn write_rows(
        conn: &mut DbConnection,
        version: &StoredVersion,
        register: &RegisterInput,
        _: &Report,
    ) -> Result<(), StoreError> {
        insert_lines(
            conn,
            &version.envelope.id,
            version.envelope.version,
            register,
        )?;
        write_week_measures(conn, version, register)?;
        hold_slots(conn, version)
    }

    /// An approved claim priced from the old version no longer matches the register.
    fn after_amendment(
        conn: &mut DbConnection,
        actor: &Actor,
        version: &StoredVersion,
    ) -> Result<(), StoreError> {
        crate::claims::mark_needs_adjustment(
            conn,
            actor,
            &version.header.contract_id,
            version.header.period_start,
            version.header.period_end,
        )
    }
}

#[derive(Insertable)]
#[diesel(table_name = register_person_weeks)]
// `copy_rows!` needs every column written as given.
#[diesel(treat_none_as_default_value = false)]
struct PersonWeekRow<'a> {
    submission_id: &'a str,
    version: i32,
    person_ref: &'a str,
    in_community: bool,
    independence: bool,
    social_inclusion: bool,
    wellbeing: bool,
    life_goals: bool,
    employment_volunteering_education: bool,
    community_networks: bool,
}

/// What the version shows of outcomes, counted once as it is stored (the quarter's
/// measures read these, not every line): the week's counts, and who attended, for the
/// breakdown by cohort.
fn write_week_measures(
    conn: &mut DbConnection,
    version: &StoredVersion,
    register: &RegisterInput,
) -> Result<(), StoreError> {
    use crate::schema::register_week_measures as m;
    let people = PersonWeek::of(&register.lines);
    let w = WeekMeasures::of_people(&people);
    let [independence, social_inclusion, wellbeing, life_goals, eve, networks] = w.tagged;
    let id = version.envelope.id.as_str();
    diesel::insert_into(m::table)
        .values((
            m::submission_id.eq(id),
            m::version.eq(version.envelope.version),
            m::attending.eq(w.attending),
            m::in_community.eq(w.in_community),
            m::independence.eq(independence),
            m::social_inclusion.eq(social_inclusion),
            m::wellbeing.eq(wellbeing),
            m::life_goals.eq(life_goals),
            m::employment_volunteering_education.eq(eve),
            m::community_networks.eq(networks),
        ))
        .execute(conn)?;
    let rows: Vec<PersonWeekRow> = people
        .iter()
        .map(|p| {
            let [independence, social_inclusion, wellbeing, life_goals, eve, networks] = p.tagged;
            PersonWeekRow {
                submission_id: id,
                version: version.envelope.version,
                person_ref: &p.person_ref,
                in_community: p.in_community,
                independence,
                social_inclusion,
                wellbeing,
                life_goals,
                employment_volunteering_education: eve,
                community_networks: networks,
            }
        })
        .collect();
    crate::copy_rows!(conn, register_person_weeks::table, &rows, INSERT_CHUNK)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use diesel::connection::{InstrumentationEvent, SimpleConnection};
    use serde_json::json;

    use super::*;

    /// 3,000 lines, some with absent values, are two multi-row statements on SQLite (chunks
    /// of 2,000 and 1,000), not one statement a line.
    #[test]
    fn sqlite_inserts_a_registers_lines_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::establish(dir.path().join("lines.db").to_str().unwrap()).unwrap();
        crate::run_migrations(&mut conn).unwrap();
        // The lines belong to no submission here.
        conn.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        let lines: Vec<_> = (0..3_000)
            .map(|i| match i % 2 {
                0 => json!({"person_ref": format!("P{i}"), "date": "2026-01-05", "session_type": "am",
                            "status": "attended", "one_to_one_hours": 1.5, "outcome_tags": ["wellbeing"]}),
                _ => json!({"person_ref": format!("P{i}"), "date": "2026-01-06", "session_type": "pm",
                            "status": "absent", "absence_reason": "illness"}),
            })
            .collect();
        let register: RegisterInput = serde_json::from_value(json!({
            "contract_id": "c", "period_start": "2026-01-05", "period_end": "2026-01-11",
            "lines": lines,
        }))
        .unwrap();
        let statements = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&statements);
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { .. } = event {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        insert_lines(&mut conn, "s", 1, &register).unwrap();
        assert_eq!(statements.load(Ordering::Relaxed), 2);
        let stored: i64 = register_lines::table.count().get_result(&mut conn).unwrap();
        assert_eq!(stored, 3_000);
    }
}
