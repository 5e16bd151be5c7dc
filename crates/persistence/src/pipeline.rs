//! The submission pipeline: one validate, create and amend for every kind of submission.
//!
//! A kind ([`Kind`]: registers, workbooks, claims) says where its input is filed, how its
//! rules are run on committed state and which rows it keeps beside a version. The pipeline
//! does the rest, in the same order for every kind:
//!
//! 1. [`prepare`] / [`prepare_amendment`]: the slot (contract and period), the checks an
//!    amendment must pass, the kind's rules, and the version as it will be stored (id,
//!    version number and time fixed now), all before any write lock is taken;
//! 2. the caller renders its answer from the prepared version;
//! 3. [`commit`]: one write transaction that stores the version, the kind's rows, the
//!    answer under its `Idempotency-Key`, and the audit events.
//!
//! A commit that loses a race on a unique key the rules check beforehand (a claim's units,
//! a person's part of a day) is an error for which [`StoreError::is_unique_violation`]
//! holds; the caller prepares again, so that the rules see the winner and report it.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use dayops_domain::audit::Actor;
use dayops_domain::contract::Contract;
use dayops_domain::finding::Report;
use dayops_domain::submission::{Envelope, SubmissionKind, SubmissionStatus};

use crate::error::StoreError;
use crate::idempotency::{self, KeyedRequest};
use crate::submissions::{self, Draft, Header, StoredVersion};
use crate::{contracts, new_id, now, utc, write_transaction, DbConnection};

/// A kind of submission, as the pipeline stores it.
pub trait Kind {
    const KIND: SubmissionKind;
    /// The content as posted.
    type Input: Serialize;
    /// What the kind's rules made of the input: the report, and whatever the kind's rows
    /// and answer need besides (a claim's prices, a workbook's KPI results).
    type Assessment;

    /// Where an amendment that moves the period is pointed at.
    const PERIOD_POINTER: &'static str = "/period_start";

    /// The contract the input is filed under.
    fn contract_id(input: &Self::Input) -> &str;

    /// The period the input is filed under: first and last day, and the key of its slot;
    /// 422 when it names none.
    fn period(input: &Self::Input) -> Result<(NaiveDate, NaiveDate, String), StoreError>;

    /// Every rule of the kind, on committed state. `amending` names the submission an
    /// amendment replaces, which the rules leave out of "other submissions".
    fn assess(
        conn: &mut DbConnection,
        contract: &Contract,
        input: &Self::Input,
        today: NaiveDate,
        amending: Option<&str>,
    ) -> Result<Self::Assessment, StoreError>;

    fn report(assessment: &Self::Assessment) -> Report;

    /// The money the rules accepted, for kinds that claim it.
    fn accepted_pence(_assessment: &Self::Assessment) -> Option<i64> {
        None
    }

    fn status(input: &Self::Input, assessment: &Self::Assessment) -> SubmissionStatus;

    /// The rows the kind keeps beside `version`, in its write transaction.
    fn write_rows(
        conn: &mut DbConnection,
        version: &StoredVersion,
        input: &Self::Input,
        assessment: &Self::Assessment,
    ) -> Result<(), StoreError>;

    /// The audit action that records the rows `write_rows` derives from a version (priced
    /// lines, KPI results), so that verification covers them as well as the body.
    const DERIVED_ACTION: Option<&'static str> = None;

    /// The SHA-256 of those derived rows as stored, read back from the database: the same
    /// function serves the write (its audit event) and verification.
    fn derived_sha256(
        _conn: &mut DbConnection,
        _id: &str,
        _version: i32,
    ) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// What else an amendment changes, in its write transaction.
    fn after_amendment(
        _conn: &mut DbConnection,
        _actor: &Actor,
        _version: &StoredVersion,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// A kind's own reason to refuse any amendment of `current` (a paid claim).
    fn refuse_amendment(_current: &StoredVersion) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A period keyed by its first day: a register's week, a claim's payment period.
pub fn keyed_by_start(
    start: NaiveDate,
    end: NaiveDate,
) -> Result<(NaiveDate, NaiveDate, String), StoreError> {
    Ok((start, end, start.to_string()))
}

/// A version ready to be stored: the rules have run, and its id, number and time are
/// fixed, so an answer can be rendered from it before the write transaction opens.
pub struct Prepared<'a, K: Kind> {
    pub input: &'a K::Input,
    pub assessment: K::Assessment,
    /// The version as it will be stored.
    pub version: StoredVersion,
    /// The id of the audit event that will record it (`create` or `amend`), named in the
    /// receipt before the event is sequenced.
    pub audit_event_id: String,
    draft: Draft,
    at: NaiveDateTime,
    scope: Option<String>,
}

/// The contract the input is filed under (as `scope` may see it, else `NotFound`) and
/// its slot.
fn slot<K: Kind>(
    conn: &mut DbConnection,
    scope: Option<&str>,
    input: &K::Input,
    (period_start, period_end, period_key): (NaiveDate, NaiveDate, String),
) -> Result<(Contract, Header), StoreError> {
    let contract = contracts::visible(conn, K::contract_id(input), scope)?;
    let header = Header {
        kind: K::KIND,
        contract_id: contract.id.clone(),
        provider_id: contract.terms.provider_id.clone(),
        period_key,
        period_start,
        period_end,
    };
    Ok((contract, header))
}

/// Runs the kind's rules against stored state and stores nothing.
pub fn validate<K: Kind>(
    conn: &mut DbConnection,
    scope: Option<&str>,
    input: &K::Input,
    today: NaiveDate,
) -> Result<K::Assessment, StoreError> {
    let (contract, _) = slot::<K>(conn, scope, input, K::period(input)?)?;
    K::assess(conn, &contract, input, today, None)
}

fn prepared<'a, K: Kind>(
    input: &'a K::Input,
    assessment: K::Assessment,
    actor: &Actor,
    scope: Option<&str>,
    header: Header,
    (id, version): (String, i32),
) -> Result<Prepared<'a, K>, StoreError> {
    let status = K::status(input, &assessment);
    let report = K::report(&assessment);
    let draft = Draft::new(input, &report)?;
    let at = now().naive_utc();
    let version = StoredVersion {
        envelope: Envelope {
            id,
            kind: K::KIND,
            version,
            current_version: version,
            status,
            submitted_by: actor.sub.clone(),
            submitted_at: utc(at),
            content_sha256: draft.content_sha256().to_string(),
            validation: report,
        },
        body: draft.canonical_body().to_string(),
        header,
    };
    Ok(Prepared {
        input,
        assessment,
        version,
        audit_event_id: crate::audit::new_event_id(),
        draft,
        at,
        scope: scope.map(str::to_string),
    })
}

/// Prepares version 1 of a new submission. A second submission for the slot is refused
/// (`Duplicate`, with the existing id) before the rules run.
pub fn prepare<'a, K: Kind>(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: Option<&str>,
    input: &'a K::Input,
    today: NaiveDate,
) -> Result<Prepared<'a, K>, StoreError> {
    let (contract, header) = slot::<K>(conn, scope, input, K::period(input)?)?;
    submissions::refuse_duplicate(conn, &header)?;
    let assessment = K::assess(conn, &contract, input, today, None)?;
    prepared(input, assessment, actor, scope, header, (new_id(), 1))
}

/// Prepares the next version of submission `id`, if `if_match` names its current version,
/// the input keeps its contract and period, the kind allows it, and the correction window
/// is open (SUB-005, 409 otherwise).
pub fn prepare_amendment<'a, K: Kind>(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: Option<&str>,
    (id, if_match): (&str, &str),
    input: &'a K::Input,
    today: NaiveDate,
) -> Result<Prepared<'a, K>, StoreError> {
    let current =
        submissions::get_version(conn, K::KIND, id, None, scope)?.ok_or(StoreError::NotFound)?;
    let period = K::period(input)?;
    submissions::check_amendment(
        &current,
        if_match,
        K::contract_id(input),
        period.0,
        K::PERIOD_POINTER,
    )?;
    let (contract, header) = slot::<K>(conn, scope, input, period)?;
    K::refuse_amendment(&current)?;
    submissions::refuse_late_amendment(&current, contract.terms.correction_window_days, today)?;
    let assessment = K::assess(conn, &contract, input, today, Some(id))?;
    let next = current.envelope.current_version + 1;
    prepared(
        input,
        assessment,
        actor,
        scope,
        header,
        (id.to_string(), next),
    )
}

/// Stores a prepared version in one write transaction: the submission's row (new, or
/// advanced if still at the version before), the version, the kind's rows, `answer` under
/// its `Idempotency-Key`, and last the audit events.
pub fn commit<K: Kind>(
    conn: &mut DbConnection,
    actor: &Actor,
    prepared: &Prepared<'_, K>,
    answer: Option<(&KeyedRequest, u16, &str)>,
) -> Result<(), StoreError> {
    let version = &prepared.version;
    let creating = version.envelope.version == 1;
    let written = write_transaction(conn, |conn| {
        if creating {
            submissions::insert_submission(conn, version, prepared.at)?;
        } else {
            submissions::advance_submission(conn, version, prepared.scope.as_deref(), prepared.at)?;
        }
        submissions::insert_version(conn, version, &prepared.draft, prepared.at)?;
        K::write_rows(conn, version, prepared.input, &prepared.assessment)?;
        if !creating {
            K::after_amendment(conn, actor, version)?;
        }
        if let Some((request, status, body)) = answer {
            idempotency::complete(conn, request, status, body)?;
        }
        let action = if creating { "create" } else { "amend" };
        let event = (action, prepared.audit_event_id.clone());
        let (id, number) = (&version.envelope.id, version.envelope.version);
        let derived = match K::DERIVED_ACTION {
            Some(action) => K::derived_sha256(conn, id, number)?.map(|hash| (action, hash)),
            None => None,
        };
        submissions::append_version_events(conn, actor, event, version, &prepared.draft, derived)
    });
    match written {
        // The slot's unique key decided between concurrent creators: the loser learns the
        // existing id. Other unique violations (a claim's units) are for the caller to retry.
        Err(e) if creating && e.is_unique_violation() => {
            match submissions::find_id(conn, &version.header)? {
                Some(existing_id) => Err(StoreError::Duplicate { existing_id }),
                None => Err(e),
            }
        }
        other => other,
    }
}
