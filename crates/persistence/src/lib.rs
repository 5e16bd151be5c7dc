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

/// Rows grouped by a key (their contract or rate version) as they are read by the
/// hundred thousand. Rows come in runs of one key (read in its order), and a row with
/// the key of the one before joins that run without the key being hashed (a hash a row
/// over 100,000 agreements a shard). A key seen again after a run keeps one group.
pub(crate) struct Groups<V> {
    done: std::collections::HashMap<String, Vec<V>>,
    run: Option<(String, Vec<V>)>,
}

impl<V> Groups<V> {
    pub(crate) fn new() -> Self {
        Groups {
            done: std::collections::HashMap::new(),
            run: None,
        }
    }

    pub(crate) fn push(&mut self, key: String, value: V) {
        if let Some((run_key, run)) = &mut self.run {
            if *run_key == key {
                run.push(value);
                return;
            }
        }
        self.end_run();
        self.run = Some((key, vec![value]));
    }

    fn end_run(&mut self) {
        if let Some((key, run)) = self.run.take() {
            match self.done.get_mut(&key) {
                Some(group) => group.extend(run),
                None => {
                    self.done.insert(key, run);
                }
            }
        }
    }

    pub(crate) fn into_map(mut self) -> std::collections::HashMap<String, Vec<V>> {
        self.end_run();
        self.done
    }
}

/// A new identifier: UUID v7, so identifiers sort in creation order and cursor pages
/// follow it.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
