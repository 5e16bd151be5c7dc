//! Service agreements, upserted in bulk from the council's case-management export.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::DefaultLoadingMode;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::agreement::{validate_batch, Agreement, AgreementInput, Placement};
use dayops_domain::audit::{Actor, NewEvent};
use dayops_domain::canonical::content_sha256;
use dayops_domain::contract::Contract;
use dayops_domain::events::EventType::{AgreementChanged, AgreementEnded, AgreementPlaced};
use dayops_domain::types::{Funding, Hours, Pathway, SupportReason};

use crate::contracts::{self, ContractSet};
use crate::day::{Day, OptionalDay};
use crate::error::{from_json, signed, to_json, to_json_value, unsigned, vocab, StoreError};
use crate::schema::agreements;
use crate::vocabulary::{
    StoredBands, StoredFunding, StoredSessions, StoredSupportReason, StoredSuspensions,
};
use crate::{audit, new_id, now, utc, write_transaction, DbConnection, Page};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agreements)]
#[diesel(treat_none_as_default_value = false)]
struct AgreementRow {
    id: String,
    contract_id: String,
    #[diesel(embed)]
    terms: TermsRow,
    content_sha256: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl AgreementRow {
    fn from_domain(a: &Agreement, content_sha256: String) -> Result<Self, StoreError> {
        let d = &a.details;
        Ok(AgreementRow {
            id: a.id.clone(),
            contract_id: a.contract_id.clone(),
            terms: TermsRow {
                person_ref: d.person_ref.clone(),
                start_date: d.start_date,
                end_date: d.end_date,
                pathway: d.pathway.as_str().to_string(),
                need_bands: to_json(&d.need_bands)?,
                planned_sessions: to_json(&d.planned_sessions)?,
                one_to_one_quarter_hours_per_week: signed(
                    "one_to_one_hours_per_week",
                    d.one_to_one_hours_per_week.quarters(),
                )?,
                transport_journeys_per_week: signed(
                    "transport_journeys_per_week",
                    d.transport_journeys_per_week,
                )?,
                meals: signed("meals", d.meals)?,
                suspensions: to_json(&d.suspensions)?,
                care_plan_review_due: d.care_plan_review_due,
                primary_support_reason: d.primary_support_reason.map(|r| r.as_str().to_string()),
                funding: d.funding.as_str().to_string(),
            },
            content_sha256,
            created_at: a.created_at.naive_utc(),
            updated_at: a.updated_at.naive_utc(),
        })
    }

    fn into_domain(self) -> Result<Agreement, StoreError> {
        Ok(Agreement {
            id: self.id,
            contract_id: self.contract_id,
            details: self.terms.into_domain()?,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

/// The columns of an agreement that are its terms: all that submission rules read of it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agreements)]
#[diesel(treat_none_as_default_value = false)]
struct TermsRow {
    person_ref: String,
    // Read by the hundred thousand for budget monitoring (see `Day`).
    #[diesel(deserialize_as = Day)]
    start_date: NaiveDate,
    #[diesel(deserialize_as = OptionalDay)]
    end_date: Option<NaiveDate>,
    pathway: String,
    need_bands: String,
    planned_sessions: String,
    one_to_one_quarter_hours_per_week: i32,
    transport_journeys_per_week: i32,
    meals: i32,
    suspensions: String,
    #[diesel(deserialize_as = OptionalDay)]
    care_plan_review_due: Option<NaiveDate>,
    primary_support_reason: Option<String>,
    funding: String,
}

/// An agreement's weekly one-to-one hours, journeys and meals from their signed columns.
fn weekly_units(
    one_to_one_quarter_hours: i32,
    journeys: i32,
    meals: i32,
) -> Result<(Hours, u32, u32), StoreError> {
    Ok((
        Hours::from_quarters(unsigned(
            "agreements.one_to_one_quarter_hours_per_week",
            one_to_one_quarter_hours,
        )?),
        unsigned("agreements.transport_journeys_per_week", journeys)?,
        unsigned("agreements.meals", meals)?,
    ))
}

impl TermsRow {
    fn into_domain(self) -> Result<AgreementInput, StoreError> {
        let (one_to_one_hours_per_week, transport_journeys_per_week, meals) = weekly_units(
            self.one_to_one_quarter_hours_per_week,
            self.transport_journeys_per_week,
            self.meals,
        )?;
        Ok(AgreementInput {
            person_ref: self.person_ref,
            need_bands: from_json("agreements.need_bands", &self.need_bands)?,
            planned_sessions: from_json("agreements.planned_sessions", &self.planned_sessions)?,
            one_to_one_hours_per_week,
            transport_journeys_per_week,
            meals,
            start_date: self.start_date,
            end_date: self.end_date,
            suspensions: from_json("agreements.suspensions", &self.suspensions)?,
            pathway: vocab("agreements.pathway", &self.pathway, Pathway::parse)?,
            care_plan_review_due: self.care_plan_review_due,
            primary_support_reason: self
                .primary_support_reason
                .as_deref()
                .map(|r| vocab("agreements.primary_support_reason", r, SupportReason::parse))
                .transpose()?,
            funding: vocab("agreements.funding", &self.funding, Funding::parse)?,
        })
    }
}

/// What a bulk upsert did to one agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpsertResult {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpsertedAgreement {
    pub id: String,
    pub person_ref: String,
    pub result: UpsertResult,
    /// The audit event that records the change (absent when unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_event_id: Option<String>,
}

/// The outcome of a bulk upsert, in the order the agreements were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpsertSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub agreements: Vec<UpsertedAgreement>,
}

/// Rows a multi-row insert may carry: 18 columns each, under SQLite's 32,766 parameters.
const INSERT_CHUNK: usize = 1_000;

/// What the feed hears of an agreement placed or changed: the person's reference and
/// which of the terms changed, never more of the person.
fn notice(
    contract: &Contract,
    agreement: &Agreement,
    event_type: dayops_domain::events::EventType,
    changed: Vec<String>,
) -> crate::feed::Notice {
    crate::feed::Notice {
        provider_id: contract.terms.provider_id.clone(),
        event_type,
        object_id: agreement.id.clone(),
        object_version: None,
        payload: serde_json::json!({
            "contract_id": agreement.contract_id,
            "person_ref": agreement.details.person_ref,
            "changed": changed,
        }),
    }
}

/// Upserts a batch keyed by `(contract_id, person_ref)` in one transaction: all of it is
/// stored or none. Unchanged agreements (same content hash) are left alone and not
/// audited, so the nightly export of the whole caseload writes only what changed.
pub fn upsert_batch(
    conn: &mut DbConnection,
    actor: &Actor,
    contract_id: &str,
    inputs: Vec<AgreementInput>,
) -> Result<UpsertSummary, StoreError> {
    write_transaction(conn, |conn| {
        let contract = contracts::lock(conn, contract_id)?;
        validate_batch(&inputs, &contract.terms)
            .into_result()
            .map_err(StoreError::Invalid)?;
        let existing: HashMap<String, AgreementRow> = agreements::table
            .filter(agreements::contract_id.eq(contract_id))
            .select(AgreementRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|row| (row.terms.person_ref.clone(), row))
            .collect();
        let at = now();
        let mut summary = UpsertSummary {
            created: 0,
            updated: 0,
            unchanged: 0,
            agreements: Vec::new(),
        };
        let mut inserts = Vec::new();
        let mut events = Vec::new();
        let mut notices = Vec::new();
        for details in inputs {
            let hash = details.terms_sha256();
            let person_ref = details.person_ref.clone();
            let (id, result) = match existing.get(&details.person_ref) {
                Some(row) if row.content_sha256 == hash => {
                    (row.id.clone(), UpsertResult::Unchanged)
                }
                Some(row) => {
                    let before = row.terms.clone().into_domain()?;
                    let changed = crate::feed::changed_members(
                        &to_json_value(&before)?,
                        &to_json_value(&details)?,
                    );
                    let ended = details.end_date.is_some() && details.end_date != before.end_date;
                    let agreement = Agreement {
                        id: row.id.clone(),
                        contract_id: contract_id.to_string(),
                        details,
                        created_at: utc(row.created_at),
                        updated_at: at,
                    };
                    let new_row = AgreementRow::from_domain(&agreement, hash)?;
                    diesel::update(agreements::table.find(&row.id))
                        .set((
                            agreements::start_date.eq(new_row.terms.start_date),
                            agreements::end_date.eq(new_row.terms.end_date),
                            agreements::pathway.eq(&new_row.terms.pathway),
                            agreements::need_bands.eq(&new_row.terms.need_bands),
                            agreements::planned_sessions.eq(&new_row.terms.planned_sessions),
                            agreements::one_to_one_quarter_hours_per_week
                                .eq(new_row.terms.one_to_one_quarter_hours_per_week),
                            agreements::transport_journeys_per_week
                                .eq(new_row.terms.transport_journeys_per_week),
                            agreements::meals.eq(new_row.terms.meals),
                            agreements::suspensions.eq(&new_row.terms.suspensions),
                            agreements::care_plan_review_due.eq(new_row.terms.care_plan_review_due),
                            agreements::primary_support_reason
                                .eq(&new_row.terms.primary_support_reason),
                            agreements::funding.eq(&new_row.terms.funding),
                            agreements::content_sha256.eq(&new_row.content_sha256),
                            agreements::updated_at.eq(new_row.updated_at),
                        ))
                        .execute(conn)?;
                    events.push(event("update", &agreement)?);
                    let event_type = if ended {
                        AgreementEnded
                    } else {
                        AgreementChanged
                    };
                    notices.push(notice(&contract, &agreement, event_type, changed));
                    (row.id.clone(), UpsertResult::Updated)
                }
                None => {
                    let agreement = Agreement {
                        id: new_id(),
                        contract_id: contract_id.to_string(),
                        details,
                        created_at: at,
                        updated_at: at,
                    };
                    inserts.push(AgreementRow::from_domain(&agreement, hash)?);
                    events.push(event("create", &agreement)?);
                    notices.push(notice(&contract, &agreement, AgreementPlaced, Vec::new()));
                    (agreement.id, UpsertResult::Created)
                }
            };
            match result {
                UpsertResult::Created => summary.created += 1,
                UpsertResult::Updated => summary.updated += 1,
                UpsertResult::Unchanged => summary.unchanged += 1,
            }
            summary.agreements.push(UpsertedAgreement {
                id,
                person_ref,
                result,
                audit_event_id: None,
            });
        }
        for chunk in inserts.chunks(INSERT_CHUNK) {
            crate::insert_rows!(conn, agreements::table, chunk)?;
        }
        // Each created or updated agreement is named with the event that records it.
        let ids = audit::append(conn, actor, events)?;
        for (id, notice) in ids.iter().zip(&notices) {
            crate::feed::record(conn, id, notice)?;
        }
        let mut ids = ids.into_iter();
        for entry in &mut summary.agreements {
            if entry.result != UpsertResult::Unchanged {
                entry.audit_event_id = ids.next();
            }
        }
        Ok(summary)
    })
    .and_then(|summary| {
        // A caseload loaded in bulk: the rules read agreements by contract on every
        // submission, so the planner should know the table's new size.
        if summary.created + summary.updated >= BULK_LOAD {
            crate::db::analyze_after_bulk_load(conn, "agreements")?;
        }
        Ok(summary)
    })
}

/// Agreements created or updated in one upsert from which their statistics are refreshed.
const BULK_LOAD: usize = 1_000;

fn event(action: &'static str, agreement: &Agreement) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        id: None,
        action,
        entity: "agreement",
        entity_id: agreement.id.clone(),
        version: None,
        content_sha256: Some(content_sha256(&to_json_value(agreement)?)),
    })
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Agreement>, StoreError> {
    agreements::table
        .find(id)
        .select(AgreementRow::as_select())
        .first(conn)
        .optional()?
        .map(AgreementRow::into_domain)
        .transpose()
}

/// A contract's agreements in id order after `after`.
pub fn list(
    conn: &mut DbConnection,
    contract_id: &str,
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Agreement>, StoreError> {
    let mut query = agreements::table
        .filter(agreements::contract_id.eq(contract_id.to_string()))
        .into_boxed();
    if let Some(since) = updated_since {
        query = query.filter(agreements::updated_at.ge(since.naive_utc()));
    }
    if let Some(after) = after {
        query = query.filter(agreements::id.gt(after.to_string()));
    }
    let rows: Vec<AgreementRow> = query
        .select(AgreementRow::as_select())
        .order(agreements::id.asc())
        .limit(limit + 1)
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(AgreementRow::into_domain)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, limit, |a| a.id.clone()))
}

/// The terms of every agreement on a contract, for validating submissions against. Only
/// the terms' columns are read: a register's validation reads every agreement on its
/// contract, and the ids, hashes and timestamps were a third of that work.
pub fn terms_for_contract(
    conn: &mut DbConnection,
    contract_id: &str,
) -> Result<Vec<AgreementInput>, StoreError> {
    agreements::table
        .filter(agreements::contract_id.eq(contract_id))
        .order(agreements::person_ref.asc())
        .select(TermsRow::as_select())
        .load(conn)?
        .into_iter()
        .map(TermsRow::into_domain)
        .collect()
}

/// An agreement's terms as budget monitoring reads them by the hundred thousand (a
/// [`Placement`]: not its pathway or review date): its
/// vocabulary and JSON columns decoded from the column's text in place (see
/// [`crate::vocabulary`]), where [`TermsRow`] copies each into a `String` first.
#[derive(Queryable, Selectable)]
#[diesel(table_name = agreements)]
struct PlacedRow {
    contract_id: String,
    person_ref: String,
    #[diesel(deserialize_as = Day)]
    start_date: NaiveDate,
    #[diesel(deserialize_as = OptionalDay)]
    end_date: Option<NaiveDate>,
    need_bands: StoredBands,
    planned_sessions: StoredSessions,
    one_to_one_quarter_hours_per_week: i32,
    transport_journeys_per_week: i32,
    meals: i32,
    suspensions: StoredSuspensions,
    primary_support_reason: Option<StoredSupportReason>,
    funding: StoredFunding,
}

impl PlacedRow {
    fn into_domain(self) -> Result<(String, Placement), StoreError> {
        let (one_to_one_hours_per_week, transport_journeys_per_week, meals) = weekly_units(
            self.one_to_one_quarter_hours_per_week,
            self.transport_journeys_per_week,
            self.meals,
        )?;
        let terms = Placement {
            person_ref: self.person_ref,
            need_bands: self.need_bands.0,
            planned_sessions: self.planned_sessions.0,
            one_to_one_hours_per_week,
            transport_journeys_per_week,
            meals,
            start_date: self.start_date,
            end_date: self.end_date,
            suspensions: self.suspensions.0,
            primary_support_reason: self.primary_support_reason.map(|r| r.0),
            funding: self.funding.0,
        };
        Ok((self.contract_id, terms))
    }
}

/// The agreements of the given contracts in force at some time from `from` to `to`, by
/// contract. Rows are decoded as they are stepped, so the nation's 200,000 are never held
/// twice, and on the back end's own connection: through the multi-back-end connection
/// each of a row's values is passed through one more layer, and a shard's
/// 100,000 agreements took 9% longer to read on SQLite (195 ms against 178).
pub fn in_force_during(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    contracts: &ContractSet,
) -> Result<HashMap<String, Vec<Placement>>, StoreError> {
    let mut placed = crate::Groups::new();
    let mut place = |row: PlacedRow| -> Result<(), StoreError> {
        let (contract_id, terms) = row.into_domain()?;
        placed.push(contract_id, terms);
        Ok(())
    };
    // The same statement for either back end's connection.
    macro_rules! each_placed {
        ($c:expr, $backend:ty) => {{
            let mut query = agreements::table
                .filter(agreements::start_date.le(to))
                .filter(
                    agreements::end_date
                        .is_null()
                        .or(agreements::end_date.ge(from)),
                )
                .into_boxed::<$backend>();
            match contracts {
                ContractSet::Named(ids) => {
                    query = query.filter(agreements::contract_id.eq_any(ids.clone()));
                }
                ContractSet::Between(first, last) => {
                    query = query.filter(agreements::contract_id.between(first, last));
                }
            }
            for row in query
                .select(PlacedRow::as_select())
                .load_iter::<PlacedRow, DefaultLoadingMode>($c)?
            {
                place(row?)?;
            }
        }};
    }
    match conn {
        DbConnection::Sqlite(c) => each_placed!(c, Sqlite),
        DbConnection::Postgresql(c) => each_placed!(c, Pg),
    }
    Ok(placed.into_map())
}
