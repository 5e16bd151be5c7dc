//! Storage for dayops on SQLite (the embedded default) and PostgreSQL, through one diesel
//! code path. Every write that spans rows runs in one transaction with its audit events.

pub mod agreements;
pub mod audit;
pub mod claims;
pub mod contracts;
pub mod day;
pub mod db;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod matrices;
pub mod monitoring;
pub mod page;
pub mod people;
pub mod pipeline;
pub mod providers;
pub mod reference;
pub mod registers;
pub mod reports;
pub mod schema;
pub mod submissions;
pub mod vocabulary;
pub mod webhooks;
pub mod workbooks;

pub use db::{
    establish, pool, run_first_migrations, run_migrations, write_transaction, Backend,
    DbConnection, Pool, PooledConnection,
};
pub use error::StoreError;
pub use page::Page;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// The current time at the microsecond precision both back ends store, so a value read
/// back equals the value written (and hashed).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// A new identifier: UUID v7, so identifiers sort in creation order and cursor pages
/// follow it.
/// Adds `value` to `key`'s group, the key kept only when the group is new: rows read by
/// the hundred thousand and grouped by their contract or version.
pub(crate) fn push_grouped<V>(
    groups: &mut std::collections::HashMap<String, Vec<V>>,
    key: String,
    value: V,
) {
    match groups.get_mut(&key) {
        Some(group) => group.push(value),
        None => {
            groups.insert(key, vec![value]);
        }
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
