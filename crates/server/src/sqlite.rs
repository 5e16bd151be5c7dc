//! SQLite's process-wide options, set before its first connection opens.
//!
//! - **Multi-thread mode.** The bundled SQLite is built serialized: every call on a
//!   connection (each column of each row read) takes and releases that connection's
//!   mutex, so that one connection could be shared by threads. Ours never are: a pooled
//!   connection is lent to one thread at a time, and diesel's connection is not `Sync`,
//!   so the compiler holds every use to that. Multi-thread mode drops those locks.
//! - **No memory statistics.** SQLite otherwise counts every allocation it makes under a
//!   process-wide mutex, for `sqlite3_status`, which nothing here reads.
//!
//! Measured on budget monitoring's read of 200,000 agreements (`report-bench`, README):
//! the locks were about a tenth of its time. Options can only be set before SQLite's
//! first use; a later call changes nothing and is logged.

#![allow(unsafe_code)]

use libsqlite3_sys::{
    sqlite3_config, SQLITE_CONFIG_MEMSTATUS, SQLITE_CONFIG_MULTITHREAD, SQLITE_OK,
};

/// Sets the options once; later calls do nothing.
pub fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` is called before any connection of this process is
        // opened (the first thing the binary and the benchmarks do); called later, it
        // answers SQLITE_MISUSE and changes nothing. MEMSTATUS takes one int argument.
        let threads = unsafe { sqlite3_config(SQLITE_CONFIG_MULTITHREAD) };
        let statistics =
            unsafe { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, std::os::raw::c_int::from(0u8)) };
        if threads != SQLITE_OK || statistics != SQLITE_OK {
            log::warn!(
                "SQLite's options were not set (codes {threads}, {statistics}): SQLite was already in use"
            );
        }
    });
}
