//! The allocators' start-up options, chosen by measurement (`memory-bench`, README):
//! memory the service has freed goes back to the system soon after, so a burst of large
//! registers or answers leaves the process near its resting size.
//!
//! - mimalloc (Rust's allocations) returns freed pages `purge_delay` ms after they are
//!   freed (1,000 by default), but only when it is next called, and with transparent huge
//!   pages holds them in 2 MiB units. With 50 ms, a thread that calls it once a second,
//!   and without huge pages (the `no_thp` feature), 32 clients' 5,000-line registers
//!   peaked at 235 MB instead of 406 MB. Purging at once (0 ms) kept little less and cost
//!   a nation's week on SQLite a fifth of its throughput (an madvise call, then page
//!   faults, on every reuse); 100 ms let 8 GETs of a 95,000-line register peak at 271 MB.
//! - glibc's malloc (the C libraries': SQLite's copy of a stored version, libpq's results)
//!   raises its mmap threshold to the size of each large block it frees, up to 32 MiB, so
//!   the next 28 MB answers came from its arenas and stayed there. A fixed threshold keeps
//!   every large block its own mapping, returned when freed: after 8 concurrent GETs of a
//!   95,000-line register the process kept 87 MB of its own memory instead of 346 MB.
//! - glibc also gives each thread that allocates at once an arena of its own (up to 16
//!   here), each keeping what was freed in it; two arenas took 8 concurrent GETs of a
//!   95,000-line register from 524 to 332 MB on PostgreSQL.
//!
//! - glibc trims a heap when 8 MiB is free at its top, not 128 KiB (see
//!   `TRIM_THRESHOLD`).
//!
//! An option set in the environment (`MIMALLOC_PURGE_DELAY`, `MALLOC_MMAP_THRESHOLD_`,
//! `MALLOC_ARENA_MAX`, `MALLOC_TRIM_THRESHOLD_`) is the operator's and is left as it is.

#![allow(unsafe_code)]

/// mimalloc v3's `mi_option_purge_delay` (`mimalloc.h`; libmimalloc-sys names no constant
/// for it), and its default there, which no other option has: if a later version numbers
/// its options otherwise, the default will not match and nothing is set.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_PURGE_DELAY_DEFAULT_MS: std::os::raw::c_long = 1000;

/// How long freed pages wait before they go back to the system.
const PURGE_DELAY_MS: std::os::raw::c_long = 50;

/// How often an otherwise idle process asks mimalloc to give back what has waited.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Blocks at least this large are mapped on their own and unmapped when freed.
const MMAP_THRESHOLD: std::os::raw::c_int = 256 * 1024;

/// Free memory at the top of a glibc heap at which it is given back. Fixing the mmap
/// threshold also fixes this one at its default, 128 KiB, and then freeing a large
/// result of libpq's, block by block, shrank the heap again and again: each shrink is a
/// system call that flushes every core's address translations. Reading budget
/// monitoring's 200,000 agreements on PostgreSQL spent a quarter of its time there.
const TRIM_THRESHOLD: std::os::raw::c_int = 8 * 1024 * 1024;

/// glibc's arenas at most. It gives each thread that allocates at once an arena of its
/// own, up to eight a core, and each keeps what was freed in it; the C libraries allocate
/// on the many blocking threads.
const ARENAS: std::os::raw::c_int = 2;

/// Sets the options and starts the collecting thread, once. Call first in `main`, before
/// any other thread starts (mimalloc's option setter is not thread-safe).
pub fn tune() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(set_options);
}

fn set_options() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: reading and setting an option of the process's allocator, from the only
        // thread there is yet.
        unsafe {
            if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == MI_PURGE_DELAY_DEFAULT_MS {
                libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
            }
        }
    }
    for (variable, parameter, value) in [
        (
            "MALLOC_MMAP_THRESHOLD_",
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD,
        ),
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENAS),
        (
            "MALLOC_TRIM_THRESHOLD_",
            libc::M_TRIM_THRESHOLD,
            TRIM_THRESHOLD,
        ),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mallopt changes a parameter of glibc's malloc; these values are
            // valid, and a fixed M_MMAP_THRESHOLD also turns off its dynamic adjustment.
            unsafe {
                libc::mallopt(parameter, value);
            }
        }
    }
    spawn_collector();
}

/// mimalloc gives back freed pages only when it is called after their delay, and an idle
/// process does not call it: this thread does.
fn spawn_collector() {
    let started = std::thread::Builder::new()
        .name("allocator-collect".into())
        .spawn(|| loop {
            std::thread::sleep(COLLECT_EVERY);
            // SAFETY: mi_collect may be called from any thread; `false` gives back only
            // what has waited past its delay.
            unsafe { libmimalloc_sys::mi_collect(false) };
        });
    if let Err(error) = started {
        eprintln!("dayops: the allocator's collecting thread did not start: {error}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_memory_is_purged_soon() {
        super::tune();
        // SAFETY: reads an option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, super::PURGE_DELAY_MS);
    }
}
