//! Contracts.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use dayops_domain::audit::{Actor, NewEvent};

use crate::audit::Audited;
use dayops_domain::canonical::content_sha256;
use dayops_domain::contract::{Contract, ContractInput};
use dayops_domain::events::EventType;
use dayops_domain::types::{BankHolidayRegion, ContractStatus, PaymentPeriod, ServiceType};

use crate::error::{from_json, signed, to_json, to_json_value, unsigned, vocab, StoreError};
use crate::schema::{contracts, providers};
use crate::{audit, new_id, now, utc, write_transaction, DbConnection, Page};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = contracts)]
#[diesel(treat_none_as_default_value = false)]
struct ContractRow {
    id: String,
    reference: String,
    provider_id: String,
    service_type: String,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    need_bands: String,
    session_hours: String,
    capacity_per_session: i32,
    allows_extras: bool,
    over_delivery_tolerance_pct: i32,
    register_deadline_days: i32,
    correction_window_days: i32,
    payment_period: String,
    payment_anchor_date: Option<NaiveDate>,
    absence_policy: String,
    closure_dates: String,
    bank_holidays: String,
    kpi_targets: String,
    status: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    bank_holiday_region: String,
    budgets: String,
    annual_budget_pence: Option<i64>,
}

impl ContractRow {
    fn from_domain(c: &Contract) -> Result<Self, StoreError> {
        let t = &c.terms;
        Ok(ContractRow {
            id: c.id.clone(),
            reference: t.reference.clone(),
            provider_id: t.provider_id.clone(),
            service_type: t.service_type.as_str().to_string(),
            start_date: t.start_date,
            end_date: t.end_date,
            need_bands: to_json(&t.need_bands)?,
            session_hours: to_json(&t.session_hours)?,
            capacity_per_session: signed("capacity_per_session", t.capacity_per_session)?,
            allows_extras: t.allows_extras,
            over_delivery_tolerance_pct: signed(
                "over_delivery_tolerance_pct",
                t.over_delivery_tolerance_pct,
            )?,
            register_deadline_days: signed("register_deadline_days", t.register_deadline_days)?,
            correction_window_days: signed("correction_window_days", t.correction_window_days)?,
            payment_period: t.payment_period.as_str().to_string(),
            payment_anchor_date: t.payment_anchor_date,
            absence_policy: to_json(&t.absence_policy)?,
            closure_dates: to_json(&t.closure_dates)?,
            bank_holidays: to_json(&t.bank_holidays)?,
            kpi_targets: to_json(&t.kpi_targets)?,
            status: t.status.as_str().to_string(),
            created_at: c.created_at.naive_utc(),
            updated_at: c.updated_at.naive_utc(),
            bank_holiday_region: t.bank_holiday_region.as_str().to_string(),
            budgets: to_json(&t.budgets)?,
            annual_budget_pence: t.annual_budget_pence,
        })
    }

    fn into_domain(self) -> Result<Contract, StoreError> {
        Ok(Contract {
            id: self.id,
            terms: ContractInput {
                reference: self.reference,
                provider_id: self.provider_id,
                service_type: vocab(
                    "contracts.service_type",
                    &self.service_type,
                    ServiceType::parse,
                )?,
                start_date: self.start_date,
                end_date: self.end_date,
                need_bands: from_json("contracts.need_bands", &self.need_bands)?,
                session_hours: from_json("contracts.session_hours", &self.session_hours)?,
                capacity_per_session: unsigned(
                    "contracts.capacity_per_session",
                    self.capacity_per_session,
                )?,
                allows_extras: self.allows_extras,
                over_delivery_tolerance_pct: unsigned(
                    "contracts.over_delivery_tolerance_pct",
                    self.over_delivery_tolerance_pct,
                )?,
                register_deadline_days: unsigned(
                    "contracts.register_deadline_days",
                    self.register_deadline_days,
                )?,
                correction_window_days: unsigned(
                    "contracts.correction_window_days",
                    self.correction_window_days,
                )?,
                payment_period: vocab(
                    "contracts.payment_period",
                    &self.payment_period,
                    PaymentPeriod::parse,
                )?,
                payment_anchor_date: self.payment_anchor_date,
                absence_policy: from_json("contracts.absence_policy", &self.absence_policy)?,
                closure_dates: from_json("contracts.closure_dates", &self.closure_dates)?,
                bank_holiday_region: vocab(
                    "contracts.bank_holiday_region",
                    &self.bank_holiday_region,
                    BankHolidayRegion::parse,
                )?,
                bank_holidays: from_json("contracts.bank_holidays", &self.bank_holidays)?,
                kpi_targets: from_json("contracts.kpi_targets", &self.kpi_targets)?,
                budgets: from_json("contracts.budgets", &self.budgets)?,
                annual_budget_pence: self.annual_budget_pence,
                status: vocab("contracts.status", &self.status, ContractStatus::parse)?,
            },
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

fn event(action: &'static str, contract: &Contract) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        id: None,
        action,
        entity: "contract",
        entity_id: contract.id.clone(),
        version: None,
        content_sha256: Some(content_sha256(&to_json_value(contract)?)),
    })
}

/// A unique-key violation on the reference is a conflict the caller can act on.
fn reference_conflict(error: StoreError, reference: &str) -> StoreError {
    if error.is_unique_violation() {
        StoreError::conflict(
            format!("a contract with reference {reference} already exists"),
            "/reference",
            "is already used by another contract",
        )
    } else {
        error
    }
}

fn require_provider(conn: &mut DbConnection, provider_id: &str) -> Result<(), StoreError> {
    let exists = providers::table
        .find(provider_id)
        .select(providers::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "/provider_id",
            "no provider has this id",
        ))
    }
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    terms: ContractInput,
) -> Result<Audited<Contract>, StoreError> {
    let at = now();
    let contract = Contract {
        id: new_id(),
        terms,
        created_at: at,
        updated_at: at,
    };
    let row = ContractRow::from_domain(&contract)?;
    write_transaction(conn, |conn| {
        require_provider(conn, &contract.terms.provider_id)?;
        diesel::insert_into(contracts::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| reference_conflict(e.into(), &contract.terms.reference))?;
        let events = audit::append(conn, actor, vec![event("create", &contract)?])?;
        let notice = contract_notice(&contract, EventType::ContractCreated, Vec::new());
        crate::feed::record(conn, &events[0], &notice)?;
        Ok::<_, StoreError>(events)
    })
    .map(|events| Audited {
        value: contract,
        events,
    })
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Contract>, StoreError> {
    contracts::table
        .find(id)
        .first::<ContractRow>(conn)
        .optional()?
        .map(ContractRow::into_domain)
        .transpose()
}

/// The contract `id` if the caller may submit against it (`scope` confines a provider to
/// its own); anything else is `NotFound`, the same as an id that does not exist.
pub fn visible(
    conn: &mut DbConnection,
    id: &str,
    scope: Option<&str>,
) -> Result<Contract, StoreError> {
    match get(conn, id)? {
        Some(c) if scope.is_none_or(|p| p == c.terms.provider_id) => Ok(c),
        _ => Err(StoreError::NotFound),
    }
}

/// Takes the contract's row lock for the rest of the transaction, so writes that depend
/// on the contract (matrix versions, agreements, changes to it) are serialised across
/// processes. Returns the contract, or `NotFound`.
pub fn lock(conn: &mut DbConnection, id: &str) -> Result<Contract, StoreError> {
    let touched = diesel::update(contracts::table.find(id))
        .set(contracts::updated_at.eq(contracts::updated_at))
        .execute(conn)?;
    if touched == 0 {
        return Err(StoreError::NotFound);
    }
    get(conn, id)?.ok_or(StoreError::NotFound)
}

/// What the feed hears of a contract created or changed, and which terms changed.
fn contract_notice(
    contract: &Contract,
    event_type: EventType,
    changed: Vec<String>,
) -> crate::feed::Notice {
    crate::feed::Notice {
        provider_id: contract.terms.provider_id.clone(),
        event_type,
        object_id: contract.id.clone(),
        object_version: None,
        payload: serde_json::json!({"reference": contract.terms.reference, "changed": changed}),
    }
}

/// Replaces the contract's terms with what `change` makes of the current contract.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    change: impl FnOnce(&Contract) -> Result<ContractInput, StoreError>,
) -> Result<Audited<Contract>, StoreError> {
    write_transaction(conn, |conn| {
        let current = lock(conn, id)?;
        let terms = change(&current)?;
        let current_terms = current.terms.clone();
        let updated = Contract {
            terms,
            updated_at: now(),
            ..current
        };
        let row = ContractRow::from_domain(&updated)?;
        diesel::update(contracts::table.find(id))
            .set((
                contracts::reference.eq(&row.reference),
                contracts::service_type.eq(&row.service_type),
                contracts::start_date.eq(row.start_date),
                contracts::end_date.eq(row.end_date),
                contracts::need_bands.eq(&row.need_bands),
                contracts::session_hours.eq(&row.session_hours),
                contracts::capacity_per_session.eq(row.capacity_per_session),
                contracts::allows_extras.eq(row.allows_extras),
                contracts::over_delivery_tolerance_pct.eq(row.over_delivery_tolerance_pct),
                contracts::register_deadline_days.eq(row.register_deadline_days),
                contracts::correction_window_days.eq(row.correction_window_days),
                contracts::payment_period.eq(&row.payment_period),
                contracts::payment_anchor_date.eq(row.payment_anchor_date),
                contracts::absence_policy.eq(&row.absence_policy),
                contracts::closure_dates.eq(&row.closure_dates),
                contracts::bank_holiday_region.eq(&row.bank_holiday_region),
                contracts::bank_holidays.eq(&row.bank_holidays),
                contracts::kpi_targets.eq(&row.kpi_targets),
                contracts::budgets.eq(&row.budgets),
                contracts::annual_budget_pence.eq(row.annual_budget_pence),
                contracts::status.eq(&row.status),
                contracts::updated_at.eq(row.updated_at),
            ))
            .execute(conn)
            .map_err(|e| reference_conflict(e.into(), &row.reference))?;
        let events = audit::append(conn, actor, vec![event("update", &updated)?])?;
        let changed = crate::feed::changed_members(
            &to_json_value(&current_terms)?,
            &to_json_value(&updated.terms)?,
        );
        let notice = contract_notice(&updated, EventType::ContractUpdated, changed);
        crate::feed::record(conn, &events[0], &notice)?;
        Ok(Audited {
            value: updated,
            events,
        })
    })
}

#[derive(Debug, Clone, Default)]
pub struct ContractFilter {
    pub provider_id: Option<String>,
    pub status: Option<ContractStatus>,
    /// Changed at or after this time.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

pub fn list(
    conn: &mut DbConnection,
    filter: &ContractFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Contract>, StoreError> {
    let mut query = contracts::table.into_boxed();
    if let Some(provider_id) = &filter.provider_id {
        query = query.filter(contracts::provider_id.eq(provider_id.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(contracts::status.eq(status.as_str()));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(contracts::updated_at.ge(since.naive_utc()));
    }
    if let Some(after) = after {
        query = query.filter(contracts::id.gt(after.to_string()));
    }
    let rows: Vec<ContractRow> = query
        .order(contracts::id.asc())
        .limit(limit + 1)
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(ContractRow::into_domain)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, limit, |c| c.id.clone()))
}

/// Finds a contract by its council reference (used by the demo loader to stay idempotent).
pub fn find_by_reference(
    conn: &mut DbConnection,
    reference: &str,
) -> Result<Option<Contract>, StoreError> {
    contracts::table
        .filter(contracts::reference.eq(reference))
        .first::<ContractRow>(conn)
        .optional()?
        .map(ContractRow::into_domain)
        .transpose()
}

/// Which contracts a read takes rows of: named ones, or every contract whose id is in a
/// range (inclusive).
#[derive(Debug, Clone)]
pub enum ContractSet {
    Named(Vec<String>),
    Between(String, String),
}

impl ContractSet {
    /// The least and greatest ids the set can hold (none for no names).
    pub fn bounds(&self) -> Option<(&str, &str)> {
        match self {
            ContractSet::Named(ids) => Some((ids.iter().min()?, ids.iter().max()?)),
            ContractSet::Between(first, last) => Some((first, last)),
        }
    }
}

/// A share of the contract ids: from `from` (inclusive) up to `below` (exclusive; `""`
/// for no end). A report that reads a nation's claim lines reads each share on a
/// connection and a core of its own ([`id_shares`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdShare {
    pub from: String,
    pub below: String,
}

impl IdShare {
    /// Every id.
    pub fn all() -> IdShare {
        IdShare {
            from: String::new(),
            below: String::new(),
        }
    }

    /// The condition that `column` holds an id of the share; binds [`IdShare::binds`].
    pub fn condition(column: &str) -> String {
        format!("{column} >= ? AND (? = '' OR {column} < ?)")
    }

    /// The values of [`IdShare::condition`]'s binds, in order.
    pub fn binds(&self) -> [&str; 3] {
        [&self.from, &self.below, &self.below]
    }
}

/// The ids split into shares of about as many of `ids` each, one for each of the
/// machine's `parallel` cores (two at least, four at most, as budget monitoring's shards),
/// in id order, that together cover every id (the first from `""`, the last without an
/// end), so that a row of a contract not among `ids` still falls in one. One share,
/// [`IdShare::all`], for one id or none.
pub fn id_shares(ids: &[&str], parallel: usize) -> Vec<IdShare> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let size = ids.len().div_ceil(parallel.clamp(2, 4)).max(1);
    let firsts: Vec<&str> = ids.chunks(size).map(|run| run[0]).collect();
    shares_of_runs(&firsts)
}

/// The shares of runs of the ids in order, each run named by its first id, that together
/// cover every id: the first share from `""` (what sorts before the first id is in it),
/// each up to the next run's first id, the last without an end. One share,
/// [`IdShare::all`], for one run or none.
pub fn shares_of_runs(firsts: &[&str]) -> Vec<IdShare> {
    let mut shares = Vec::with_capacity(firsts.len().max(1));
    let mut from = String::new();
    for next in firsts.iter().skip(1) {
        shares.push(IdShare {
            from: std::mem::replace(&mut from, next.to_string()),
            below: next.to_string(),
        });
    }
    shares.push(IdShare {
        from,
        below: String::new(),
    });
    shares
}

/// The contracts in force at some time from `from` to `to` (one provider's, when given),
/// in reference order.
pub fn in_force_during(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    provider_id: Option<&str>,
) -> Result<Vec<Contract>, StoreError> {
    let mut query = contracts::table
        .filter(contracts::start_date.le(to))
        .filter(
            contracts::end_date
                .is_null()
                .or(contracts::end_date.ge(from)),
        )
        .into_boxed();
    if let Some(provider_id) = provider_id {
        query = query.filter(contracts::provider_id.eq(provider_id.to_string()));
    }
    query
        .order(contracts::reference.asc())
        .load::<ContractRow>(conn)?
        .into_iter()
        .map(ContractRow::into_domain)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of `shares` an id falls in, as the SQL of [`IdShare::condition`] decides.
    fn holding(shares: &[IdShare], id: &str) -> Vec<usize> {
        (0..shares.len())
            .filter(|&i| {
                let s = &shares[i];
                id >= s.from.as_str() && (s.below.is_empty() || id < s.below.as_str())
            })
            .collect()
    }

    #[test]
    fn shares_cover_every_id_once_and_split_the_named_ones() {
        let ids = ["c-05", "c-01", "c-09", "c-03", "c-07", "c-03"];
        for parallel in [1, 2, 3, 4, 16] {
            let shares = id_shares(&ids, parallel);
            // Five ids: runs of three (two shares), or of two (three shares).
            let runs = 5usize.div_ceil(5usize.div_ceil(parallel.clamp(2, 4)));
            assert_eq!(shares.len(), runs, "{parallel}: {shares:?}");
            assert_eq!(shares[0].from, "");
            assert_eq!(shares[shares.len() - 1].below, "");
            // Named ids, ids between them and ids beyond either end: each in one share.
            for id in ids
                .iter()
                .copied()
                .chain(["", "a", "c-02", "c-04", "c-10", "z"])
            {
                assert_eq!(holding(&shares, id).len(), 1, "{id} in {shares:?}");
            }
        }
        let two = id_shares(&ids, 2);
        assert_eq!(two[0].below, "c-07");
        assert_eq!(holding(&two, "c-05"), vec![0]);
        assert_eq!(holding(&two, "c-07"), vec![1]);
    }

    #[test]
    fn one_id_or_none_is_one_share_of_everything() {
        assert_eq!(id_shares(&[], 4), vec![IdShare::all()]);
        assert_eq!(id_shares(&["c-1"], 4), vec![IdShare::all()]);
    }
}
