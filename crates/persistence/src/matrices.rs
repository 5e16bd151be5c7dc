//! Effective-dated rate matrix versions of a contract.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use dayops_domain::audit::{Actor, NewEvent};

use crate::audit::Audited;
use dayops_domain::canonical::content_sha256;
use dayops_domain::matrix::{MatrixVersion, RateCell, RateMatrixInput, RateMatrixVersion};
use dayops_domain::types::{DayCategory, Item, SessionType};

use crate::contracts::{self, ContractSet};
use crate::error::{to_json_value, vocab, StoreError};
use crate::schema::{rate_cells, rate_matrix_versions};
use crate::vocabulary::{StoredDayCategory, StoredItem, StoredSessionType};
use crate::{audit, new_id, now, utc, write_transaction, DbConnection};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = rate_matrix_versions)]
#[diesel(treat_none_as_default_value = false)]
struct VersionRow {
    id: String,
    contract_id: String,
    effective_from: NaiveDate,
    effective_to: Option<NaiveDate>,
    created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = rate_cells)]
#[diesel(treat_none_as_default_value = false)]
struct CellRow {
    version_id: String,
    position: i32,
    item: String,
    need_band: String,
    session_type: Option<String>,
    day_category: String,
    rate_pence: i64,
}

impl CellRow {
    fn into_domain(self) -> Result<RateCell, StoreError> {
        Ok(RateCell {
            item: vocab("rate_cells.item", &self.item, Item::parse)?,
            need_band: self.need_band,
            session_type: self
                .session_type
                .map(|s| vocab("rate_cells.session_type", &s, SessionType::parse))
                .transpose()?,
            day_category: vocab(
                "rate_cells.day_category",
                &self.day_category,
                DayCategory::parse,
            )?,
            rate_pence: self.rate_pence,
        })
    }
}

/// A rate cell as lookups read them, a few dozen for each of a nation's contracts: the
/// vocabulary columns decoded in place (see [`crate::vocabulary`]).
#[derive(Queryable, Selectable)]
#[diesel(table_name = rate_cells)]
struct LookupCellRow {
    version_id: String,
    position: i32,
    item: StoredItem,
    need_band: String,
    session_type: Option<StoredSessionType>,
    day_category: StoredDayCategory,
    rate_pence: i64,
}

impl LookupCellRow {
    /// The cell, with the id of its version and its place there.
    fn into_domain(self) -> (String, (i32, RateCell)) {
        let cell = RateCell {
            item: self.item.0,
            need_band: self.need_band,
            session_type: self.session_type.map(|s| s.0),
            day_category: self.day_category.0,
            rate_pence: self.rate_pence,
        };
        (self.version_id, (self.position, cell))
    }
}

/// Rows a multi-row insert may carry: 7 columns each, well under both back ends' limits.
const INSERT_CHUNK: usize = 1_000;

/// Stores a new version after checking it against the contract and, under the
/// contract's row lock, against every stored version: versions never overlap.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    contract_id: &str,
    input: RateMatrixInput,
) -> Result<Audited<RateMatrixVersion>, StoreError> {
    write_transaction(conn, |conn| {
        let contract = contracts::lock(conn, contract_id)?;
        input
            .validate(&contract.terms)
            .into_result()
            .map_err(StoreError::Invalid)?;
        let existing = list(conn, contract_id)?;
        let dates: Vec<_> = existing
            .iter()
            .map(RateMatrixVersion::effective_dates)
            .collect();
        if let Some(other) = input.overlapping(&dates) {
            let until = other
                .effective_to
                .map_or_else(|| "open-ended".to_string(), |d| d.to_string());
            return Err(StoreError::conflict(
                "rate matrix versions of one contract may not overlap",
                "/effective_from",
                format!(
                    "the version overlaps the stored version effective from {} to {until}",
                    other.effective_from
                ),
            ));
        }
        let version = RateMatrixVersion {
            id: new_id(),
            contract_id: contract_id.to_string(),
            effective_from: input.effective_from,
            effective_to: input.effective_to,
            cells: input.cells,
            created_at: now(),
        };
        diesel::insert_into(rate_matrix_versions::table)
            .values(VersionRow {
                id: version.id.clone(),
                contract_id: version.contract_id.clone(),
                effective_from: version.effective_from,
                effective_to: version.effective_to,
                created_at: version.created_at.naive_utc(),
            })
            .execute(conn)?;
        let cells = version
            .cells
            .iter()
            .enumerate()
            .map(|(position, cell)| {
                Ok(CellRow {
                    version_id: version.id.clone(),
                    position: i32::try_from(position)
                        .map_err(|_| StoreError::invalid("/cells", "too many cells"))?,
                    item: cell.item.as_str().to_string(),
                    need_band: cell.need_band.clone(),
                    session_type: cell.session_type.map(|s| s.as_str().to_string()),
                    day_category: cell.day_category.as_str().to_string(),
                    rate_pence: cell.rate_pence,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for chunk in cells.chunks(INSERT_CHUNK) {
            crate::insert_rows!(conn, rate_cells::table, chunk)?;
        }
        let events = audit::append(
            conn,
            actor,
            vec![NewEvent {
                id: None,
                action: "create",
                entity: "rate_matrix_version",
                entity_id: version.id.clone(),
                version: None,
                content_sha256: Some(content_sha256(&to_json_value(&version)?)),
            }],
        )?;
        let notice = crate::feed::Notice {
            provider_id: contract.terms.provider_id.clone(),
            event_type: dayops_domain::events::EventType::RateMatrixCreated,
            object_id: version.id.clone(),
            object_version: None,
            payload: serde_json::json!({
                "contract_id": version.contract_id,
                "effective_from": version.effective_from,
                "effective_to": version.effective_to,
            }),
        };
        crate::feed::record(conn, &events[0], &notice)?;
        Ok(Audited {
            value: version,
            events,
        })
    })
}

/// Every version of a contract with its cells, oldest first.
pub fn list(
    conn: &mut DbConnection,
    contract_id: &str,
) -> Result<Vec<RateMatrixVersion>, StoreError> {
    let versions: Vec<VersionRow> = rate_matrix_versions::table
        .filter(rate_matrix_versions::contract_id.eq(contract_id))
        .order(rate_matrix_versions::effective_from.asc())
        .load(conn)?;
    let ids: Vec<&str> = versions.iter().map(|v| v.id.as_str()).collect();
    let cell_rows: Vec<CellRow> = rate_cells::table
        .filter(rate_cells::version_id.eq_any(&ids))
        .order((rate_cells::version_id.asc(), rate_cells::position.asc()))
        .load(conn)?;
    let mut cells: HashMap<String, Vec<RateCell>> = HashMap::new();
    for row in cell_rows {
        let version_id = row.version_id.clone();
        cells
            .entry(version_id)
            .or_default()
            .push(row.into_domain()?);
    }
    Ok(versions
        .into_iter()
        .map(|v| RateMatrixVersion {
            cells: cells.remove(&v.id).unwrap_or_default(),
            id: v.id,
            contract_id: v.contract_id,
            effective_from: v.effective_from,
            effective_to: v.effective_to,
            created_at: utc(v.created_at),
        })
        .collect())
}

/// A version's cells in the order of their places.
fn in_place_order(mut cells: Vec<(i32, RateCell)>) -> Vec<RateCell> {
    cells.sort_unstable_by_key(|(position, _)| *position);
    cells.into_iter().map(|(_, cell)| cell).collect()
}

/// Every version of the given contracts, in lookup form and oldest first, by contract:
/// one read of each table however many contracts.
pub fn lookup_versions(
    conn: &mut DbConnection,
    contracts: &ContractSet,
) -> Result<HashMap<String, Vec<MatrixVersion<String>>>, StoreError> {
    let mut query = rate_matrix_versions::table.into_boxed();
    match contracts {
        ContractSet::Named(ids) => {
            query = query.filter(rate_matrix_versions::contract_id.eq_any(ids.clone()));
        }
        ContractSet::Between(first, last) => {
            query = query.filter(rate_matrix_versions::contract_id.between(first, last));
        }
    }
    let versions: Vec<VersionRow> = query
        .order((
            rate_matrix_versions::contract_id.asc(),
            rate_matrix_versions::effective_from.asc(),
        ))
        .load(conn)?;
    let mut cell_query = rate_cells::table.into_boxed();
    match contracts {
        ContractSet::Named(_) => {
            let ids: Vec<String> = versions.iter().map(|v| v.id.clone()).collect();
            cell_query = cell_query.filter(rate_cells::version_id.eq_any(ids));
        }
        // A range's versions may be thousands, more than one statement binds.
        ContractSet::Between(first, last) => {
            cell_query = cell_query.filter(
                rate_cells::version_id.eq_any(
                    rate_matrix_versions::table
                        .filter(rate_matrix_versions::contract_id.between(first, last))
                        .select(rate_matrix_versions::id),
                ),
            );
        }
    }
    // Put in order here, not by the statement: sorting a shard's 22,000 cells by their
    // version's id was half of PostgreSQL's work, and each version's dozen are put in
    // order in a moment.
    let mut cells = crate::Groups::new();
    for row in cell_query
        .select(LookupCellRow::as_select())
        .load_iter(conn)?
    {
        let (version_id, cell) = row?.into_domain();
        cells.push(version_id, cell);
    }
    let mut cells: HashMap<String, Vec<(i32, RateCell)>> = cells.into_map();
    let mut by_contract: HashMap<String, Vec<MatrixVersion<String>>> = HashMap::new();
    for v in versions {
        by_contract
            .entry(v.contract_id)
            .or_default()
            .push(MatrixVersion {
                cells: cells.remove(&v.id).map(in_place_order).unwrap_or_default(),
                id: v.id,
                effective_from: v.effective_from,
                effective_to: v.effective_to,
            });
    }
    Ok(by_contract)
}
