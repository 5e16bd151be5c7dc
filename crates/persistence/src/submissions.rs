//! The envelope shared by registers, workbooks and claims: one submission per contract,
//! kind and period, immutable versions, and the audit events of each.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use dayops_domain::audit::{Actor, NewEvent};
use dayops_domain::canonical::{sha256_hex, to_canonical_string};
use dayops_domain::finding::Report;
use dayops_domain::submission::{Envelope, SubmissionKind, SubmissionStatus};

use crate::error::{from_json, to_json, vocab, StoreError};
use crate::schema::{submission_findings, submission_versions, submissions};
use crate::{audit, now, utc, DbConnection, Page};

/// What identifies a submission's slot: one per contract, kind and period.
#[derive(Debug, Clone)]
pub struct Header {
    pub kind: SubmissionKind,
    pub contract_id: String,
    pub provider_id: String,
    pub period_key: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

/// What a version about to be stored is written as: its content's canonical JSON and
/// hash, and its report's JSON and hash. Worked out when the version is prepared, before
/// the write transaction opens, so that the write lock is not held while a large body is
/// serialised and hashed; the fields are private so that nothing can change them after.
#[derive(Debug, Clone)]
pub struct Draft {
    canonical_body: String,
    body_sha256: String,
    report_sha256: String,
    findings: String,
}

impl Draft {
    /// The stored forms of `body` and `report`: canonical JSON written straight from the
    /// typed body (no `serde_json::Value` tree of a large register is built).
    pub fn new<B: serde::Serialize>(body: &B, report: &Report) -> Result<Draft, StoreError> {
        let canonical_body = to_canonical_string(body)
            .map_err(|e| StoreError::Corrupt(format!("writing a body: {e}")))?;
        Ok(Draft {
            body_sha256: sha256_hex(canonical_body.as_bytes()),
            report_sha256: sha256_hex(
                to_canonical_string(report)
                    .map_err(|e| StoreError::Corrupt(format!("writing a report: {e}")))?
                    .as_bytes(),
            ),
            findings: to_json(report)?,
            canonical_body,
        })
    }

    pub fn content_sha256(&self) -> &str {
        &self.body_sha256
    }

    pub fn canonical_body(&self) -> &str {
        &self.canonical_body
    }
}

/// A stored version with its header. The body is its canonical JSON as stored: a kind
/// reads what it answers from the text (a large register's lines can be passed through
/// unparsed), never through a `serde_json::Value` tree ten times its size.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub header: Header,
    pub envelope: Envelope,
    pub body: String,
}

#[derive(Debug, Clone, Queryable)]
struct SubmissionRow {
    id: String,
    kind: String,
    contract_id: String,
    provider_id: String,
    period_key: String,
    period_start: NaiveDate,
    period_end: NaiveDate,
    current_version: i32,
    status: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = submission_versions)]
#[diesel(treat_none_as_default_value = false)]
struct VersionRow {
    submission_id: String,
    version: i32,
    status: String,
    body: String,
    content_sha256: String,
    findings: String,
    submitted_by: String,
    submitted_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = submission_findings)]
#[diesel(treat_none_as_default_value = false)]
struct FindingCount {
    submission_id: String,
    version: i32,
    code: String,
    severity: String,
    occurrences: i32,
}

/// The finding codes of a version, counted, for the finding filter and compliance report.
fn finding_counts(id: &str, version: i32, report: &Report) -> Vec<FindingCount> {
    let mut counts: std::collections::BTreeMap<(&str, &str), i32> = Default::default();
    for f in &report.findings {
        *counts.entry((&f.code, f.severity.as_str())).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((code, severity), occurrences)| FindingCount {
            submission_id: id.to_string(),
            version,
            code: code.to_string(),
            severity: severity.to_string(),
            occurrences,
        })
        .collect()
}

impl SubmissionRow {
    fn header(&self) -> Result<Header, StoreError> {
        Ok(Header {
            kind: vocab("submissions.kind", &self.kind, SubmissionKind::parse)?,
            contract_id: self.contract_id.clone(),
            provider_id: self.provider_id.clone(),
            period_key: self.period_key.clone(),
            period_start: self.period_start,
            period_end: self.period_end,
        })
    }
}

fn stored(row: &SubmissionRow, version: VersionRow) -> Result<StoredVersion, StoreError> {
    let header = row.header()?;
    Ok(StoredVersion {
        envelope: Envelope {
            id: row.id.clone(),
            kind: header.kind,
            version: version.version,
            current_version: row.current_version,
            // The current version shows where the submission stands now (a claim may have
            // been approved or paid since); earlier versions keep their own outcome.
            status: if version.version == row.current_version {
                vocab("submissions.status", &row.status, SubmissionStatus::parse)?
            } else {
                vocab(
                    "submission_versions.status",
                    &version.status,
                    SubmissionStatus::parse,
                )?
            },
            submitted_by: version.submitted_by,
            submitted_at: utc(version.submitted_at),
            content_sha256: version.content_sha256,
            validation: from_json("submission_versions.findings", &version.findings)?,
        },
        body: version.body,
        header,
    })
}

/// Inserts the row of a new submission in `version`'s slot, at version 1. The unique key
/// on (contract, kind, period) decides between concurrent creators.
pub fn insert_submission(
    conn: &mut DbConnection,
    version: &StoredVersion,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let header = &version.header;
    diesel::insert_into(submissions::table)
        .values((
            submissions::id.eq(&version.envelope.id),
            submissions::kind.eq(header.kind.as_str()),
            submissions::contract_id.eq(&header.contract_id),
            submissions::provider_id.eq(&header.provider_id),
            submissions::period_key.eq(&header.period_key),
            submissions::period_start.eq(header.period_start),
            submissions::period_end.eq(header.period_end),
            submissions::current_version.eq(1),
            submissions::status.eq(version.envelope.status.as_str()),
            submissions::created_at.eq(at),
            submissions::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes `version` the current version of its submission, if the submission is still at
/// the version before it once its row lock is held: of concurrent amendments with one
/// ETag exactly one wins, the others get 412. `scope` confines a provider to its own.
pub fn advance_submission(
    conn: &mut DbConnection,
    version: &StoredVersion,
    scope: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let current = lock_current(conn, version.header.kind, &version.envelope.id, scope)?;
    let seen = version.envelope.version - 1;
    if current.envelope.current_version != seen {
        return Err(StoreError::PreconditionFailed {
            current_etag: dayops_domain::submission::etag(current.envelope.current_version),
        });
    }
    diesel::update(
        submissions::table
            .find(&version.envelope.id)
            .filter(submissions::current_version.eq(seen)),
    )
    .set((
        submissions::current_version.eq(version.envelope.version),
        submissions::status.eq(version.envelope.status.as_str()),
        submissions::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Inserts `version` (its canonical content and report from `draft`) and the counts of
/// its finding codes.
pub fn insert_version(
    conn: &mut DbConnection,
    version: &StoredVersion,
    draft: &Draft,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let id = &version.envelope.id;
    diesel::insert_into(submission_versions::table)
        .values(VersionRow {
            submission_id: id.clone(),
            version: version.envelope.version,
            status: version.envelope.status.as_str().to_string(),
            body: draft.canonical_body.clone(),
            content_sha256: draft.body_sha256.clone(),
            findings: draft.findings.clone(),
            submitted_by: version.envelope.submitted_by.clone(),
            submitted_at: at,
        })
        .execute(conn)?;
    let counts = finding_counts(id, version.envelope.version, &version.envelope.validation);
    if !counts.is_empty() {
        crate::insert_rows!(conn, submission_findings::table, &counts)?;
    }
    Ok(())
}

/// What the feed hears of a stored version: its kind, stored or amended, and its outcome.
fn version_notice(created: bool, version: &StoredVersion) -> crate::feed::Notice {
    use dayops_domain::events::EventType::*;
    use dayops_domain::finding::Severity;
    let event_type = match (version.header.kind, created) {
        (SubmissionKind::Register, true) => RegisterCreated,
        (SubmissionKind::Register, false) => RegisterAmended,
        (SubmissionKind::Claim, true) => ClaimCreated,
        (SubmissionKind::Claim, false) => ClaimAmended,
        (SubmissionKind::Workbook, true) => WorkbookCreated,
        (SubmissionKind::Workbook, false) => WorkbookAmended,
    };
    let findings = &version.envelope.validation.findings;
    let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
    crate::feed::Notice {
        provider_id: version.header.provider_id.clone(),
        event_type,
        object_id: version.envelope.id.clone(),
        object_version: Some(version.envelope.version),
        payload: serde_json::json!({
            "status": version.envelope.status,
            "contract_id": version.header.contract_id,
            "period_start": version.header.period_start,
            "period_end": version.header.period_end,
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
        }),
    }
}

/// The audit events of a stored version: its content (under the id its receipt names),
/// its validation, and the rows the kind derived from it, if any.
pub fn append_version_events(
    conn: &mut DbConnection,
    actor: &Actor,
    (action, event_id): (&'static str, String),
    version: &StoredVersion,
    draft: &Draft,
    derived: Option<(&'static str, String)>,
) -> Result<(), StoreError> {
    let entity = version.header.kind.as_str();
    crate::feed::record(
        conn,
        &event_id,
        &version_notice(action == "create", version),
    )?;
    let derived = derived.map(|(action, hash)| NewEvent {
        id: None,
        action,
        entity,
        entity_id: version.envelope.id.clone(),
        version: Some(version.envelope.version),
        content_sha256: Some(hash),
    });
    audit::append(
        conn,
        actor,
        [
            NewEvent {
                id: Some(event_id),
                action,
                entity,
                entity_id: version.envelope.id.clone(),
                version: Some(version.envelope.version),
                content_sha256: Some(draft.body_sha256.clone()),
            },
            NewEvent {
                id: None,
                action: "validate",
                entity,
                entity_id: version.envelope.id.clone(),
                version: Some(version.envelope.version),
                content_sha256: Some(draft.report_sha256.clone()),
            },
        ]
        .into_iter()
        .chain(derived)
        .collect(),
    )
    .map(drop)
}

/// The id of the submission in `header`'s slot, if any.
/// `Duplicate` with the existing id if the header's slot is taken: checked before the
/// rules run, so a second submission for a period is refused without validating it (the
/// unique key still decides between concurrent creators).
pub fn refuse_duplicate(conn: &mut DbConnection, header: &Header) -> Result<(), StoreError> {
    match find_id(conn, header)? {
        Some(existing_id) => Err(StoreError::Duplicate { existing_id }),
        None => Ok(()),
    }
}

pub fn find_id(conn: &mut DbConnection, header: &Header) -> Result<Option<String>, StoreError> {
    Ok(submissions::table
        .filter(submissions::contract_id.eq(&header.contract_id))
        .filter(submissions::kind.eq(header.kind.as_str()))
        .filter(submissions::period_key.eq(&header.period_key))
        .select(submissions::id)
        .first(conn)
        .optional()?)
}

/// The submission `id` of `kind` with its current version, locked for the rest of the
/// transaction (so amendments with the same ETag apply one at a time). `scope` confines a
/// provider to its own submissions; anything else is `NotFound`.
pub fn lock_current(
    conn: &mut DbConnection,
    kind: SubmissionKind,
    id: &str,
    scope: Option<&str>,
) -> Result<StoredVersion, StoreError> {
    let touched = diesel::update(
        submissions::table
            .find(id)
            .filter(submissions::kind.eq(kind.as_str())),
    )
    .set(submissions::updated_at.eq(submissions::updated_at))
    .execute(conn)?;
    if touched == 0 {
        return Err(StoreError::NotFound);
    }
    get_version(conn, kind, id, None, scope)?.ok_or(StoreError::NotFound)
}

/// What an amendment must satisfy before it is priced or validated: `If-Match` names the
/// current version, and the body keeps the submission's contract and period.
pub fn check_amendment(
    seen: &StoredVersion,
    if_match: &str,
    contract_id: &str,
    period_start: NaiveDate,
    period_pointer: &str,
) -> Result<(), StoreError> {
    let current_version = seen.envelope.current_version;
    if !dayops_domain::submission::if_match_names(if_match, current_version) {
        return Err(StoreError::PreconditionFailed {
            current_etag: dayops_domain::submission::etag(current_version),
        });
    }
    let mut fixed = Vec::new();
    if contract_id != seen.header.contract_id {
        fixed.push(dayops_domain::FieldError::new(
            "/contract_id",
            "cannot change in an amendment",
        ));
    }
    if period_start != seen.header.period_start {
        fixed.push(dayops_domain::FieldError::new(
            period_pointer,
            "cannot change in an amendment",
        ));
    }
    if fixed.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(fixed))
    }
}

/// An amendment after the period's correction window closed is refused whole (SUB-005,
/// 409): nothing is stored and the current version stays the one that counts.
pub fn refuse_late_amendment(
    seen: &StoredVersion,
    correction_window_days: u32,
    today: NaiveDate,
) -> Result<(), StoreError> {
    match dayops_domain::submission::correction_window_closed(
        seen.header.period_end,
        correction_window_days,
        today,
    ) {
        Some(closed) => Err(StoreError::conflict(
            format!(
                "SUB-005: the correction window closed on {closed}; the amendment was not stored"
            ),
            "",
            "the correction window has closed",
        )),
        None => Ok(()),
    }
}

/// Submission `id` of `kind`, if `scope` (a provider) may see it.
fn visible(
    conn: &mut DbConnection,
    kind: SubmissionKind,
    id: &str,
    scope: Option<&str>,
) -> Result<Option<SubmissionRow>, StoreError> {
    Ok(submissions::table
        .find(id)
        .filter(submissions::kind.eq(kind.as_str()))
        .first::<SubmissionRow>(conn)
        .optional()?
        .filter(|row| scope.is_none_or(|provider| provider == row.provider_id)))
}

/// A version of submission `id` (the current one when `version` is `None`).
pub fn get_version(
    conn: &mut DbConnection,
    kind: SubmissionKind,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<StoredVersion>, StoreError> {
    let Some(row) = visible(conn, kind, id, scope)? else {
        return Ok(None);
    };
    let wanted = version.unwrap_or(row.current_version);
    let Some(version_row) = submission_versions::table
        .find((id, wanted))
        .first::<VersionRow>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    stored(&row, version_row).map(Some)
}

diesel::define_sql_function! {
    /// `OCTET_LENGTH(text)`, its size in bytes, the same on both back ends. Neither reads
    /// the text to answer it (SQLite from the record's header, PostgreSQL from the TOAST
    /// pointer), where `LENGTH` counts its characters: a 28 MB register read whole, in the
    /// C library's memory and outside the budget, only to be weighed.
    fn octet_length(text: diesel::sql_types::Text) -> diesel::sql_types::Integer;
}

/// How large a stored version is (its body and findings, in bytes), to weigh its answer
/// before reading it; `None` when there is no such version of a `kind`
/// submission that `scope` (a provider) may see.
pub fn stored_size(
    conn: &mut DbConnection,
    kind: SubmissionKind,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let Some(current) = visible(conn, kind, id, scope)?.map(|row| row.current_version) else {
        return Ok(None);
    };
    let size: Option<(i32, i32)> = submission_versions::table
        .find((id, version.unwrap_or(current)))
        .select((
            octet_length(submission_versions::body),
            octet_length(submission_versions::findings),
        ))
        .first(conn)
        .optional()?;
    Ok(size.map(|(body, findings)| i64::from(body) + i64::from(findings)))
}

/// A change of a submission's status: a claim's decision or payment, or the mark an
/// amended register leaves on an approved claim.
pub struct StatusChange {
    pub status: SubmissionStatus,
    /// The audit event's action.
    pub action: &'static str,
    /// What the audit event records the hash of (the decision or payment), if anything.
    pub content_sha256: Option<String>,
    /// What the feed's event says beyond the status (a payment's remittance reference).
    pub details: serde_json::Value,
}

/// Moves submission `id` to a new status, with its audit event and its notice in the
/// feed; returns the event's id.
pub fn set_status(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    kind: SubmissionKind,
    change: StatusChange,
) -> Result<String, StoreError> {
    let StatusChange {
        status,
        action,
        content_sha256,
        details,
    } = change;
    let row = submissions::table.find(id).first::<SubmissionRow>(conn)?;
    diesel::update(submissions::table.find(id))
        .set((
            submissions::status.eq(status.as_str()),
            submissions::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
    let event_id = audit::append(
        conn,
        actor,
        vec![NewEvent {
            id: None,
            action,
            entity: kind.as_str(),
            entity_id: id.to_string(),
            version: Some(row.current_version),
            content_sha256,
        }],
    )?
    .into_iter()
    .next()
    .unwrap_or_default();
    use dayops_domain::events::EventType;
    let event_type = match status {
        SubmissionStatus::Approved => Some(EventType::ClaimApproved),
        SubmissionStatus::Declined => Some(EventType::ClaimDeclined),
        SubmissionStatus::Paid => Some(EventType::ClaimPaid),
        SubmissionStatus::NeedsAdjustment => Some(EventType::ClaimNeedsAdjustment),
        _ => None,
    };
    if let Some(event_type) = event_type {
        let mut payload = serde_json::json!({"status": status, "contract_id": row.contract_id});
        if let (Some(payload), serde_json::Value::Object(details)) =
            (payload.as_object_mut(), details)
        {
            payload.extend(details);
        }
        let notice = crate::feed::Notice {
            provider_id: row.provider_id.clone(),
            event_type,
            object_id: id.to_string(),
            object_version: Some(row.current_version),
            payload,
        };
        crate::feed::record(conn, &event_id, &notice)?;
    }
    Ok(event_id)
}

/// The provider a submission belongs to, if there is such a submission.
pub fn provider_of(conn: &mut DbConnection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(submissions::table
        .find(id)
        .select(submissions::provider_id)
        .first(conn)
        .optional()?)
}

/// A submission in a list: its envelope fields without the content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SubmissionSummary {
    pub id: String,
    pub kind: SubmissionKind,
    pub contract_id: String,
    pub provider_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub current_version: i32,
    pub status: SubmissionStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct SubmissionFilter {
    pub kind: Option<SubmissionKind>,
    pub provider_id: Option<String>,
    pub contract_id: Option<String>,
    pub status: Option<SubmissionStatus>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    /// The current version has a finding with this code.
    pub finding_code: Option<String>,
    /// First submitted at or after this time.
    pub submitted_from: Option<chrono::DateTime<chrono::Utc>>,
    /// First submitted before this time.
    pub submitted_to: Option<chrono::DateTime<chrono::Utc>>,
    /// Changed (a new version, a decision, a payment) at or after this time.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Submissions in id (creation) order after `after`.
pub fn list(
    conn: &mut DbConnection,
    filter: &SubmissionFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<SubmissionSummary>, StoreError> {
    let mut query = submissions::table.into_boxed();
    if let Some(kind) = filter.kind {
        query = query.filter(submissions::kind.eq(kind.as_str()));
    }
    if let Some(provider_id) = &filter.provider_id {
        query = query.filter(submissions::provider_id.eq(provider_id.clone()));
    }
    if let Some(contract_id) = &filter.contract_id {
        query = query.filter(submissions::contract_id.eq(contract_id.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(submissions::status.eq(status.as_str()));
    }
    if let Some(from) = filter.period_from {
        query = query.filter(submissions::period_start.ge(from));
    }
    if let Some(to) = filter.period_to {
        query = query.filter(submissions::period_start.le(to));
    }
    if let Some(code) = &filter.finding_code {
        query = query.filter(diesel::dsl::exists(
            submission_findings::table
                .filter(submission_findings::submission_id.eq(submissions::id))
                .filter(submission_findings::version.eq(submissions::current_version))
                .filter(submission_findings::code.eq(code.clone())),
        ));
    }
    if let Some(from) = filter.submitted_from {
        query = query.filter(submissions::created_at.ge(from.naive_utc()));
    }
    if let Some(to) = filter.submitted_to {
        query = query.filter(submissions::created_at.lt(to.naive_utc()));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(submissions::updated_at.ge(since.naive_utc()));
    }
    if let Some(after) = after {
        query = query.filter(submissions::id.gt(after.to_string()));
    }
    let rows: Vec<SubmissionRow> = query
        .order(submissions::id.asc())
        .limit(limit + 1)
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|row| {
            Ok(SubmissionSummary {
                kind: vocab("submissions.kind", &row.kind, SubmissionKind::parse)?,
                status: vocab("submissions.status", &row.status, SubmissionStatus::parse)?,
                id: row.id,
                contract_id: row.contract_id,
                provider_id: row.provider_id,
                period_start: row.period_start,
                period_end: row.period_end,
                current_version: row.current_version,
                created_at: utc(row.created_at),
                updated_at: utc(row.updated_at),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::from_rows(items, limit, |s| s.id.clone()))
}
