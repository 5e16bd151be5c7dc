//! Idempotency keys for submission-creating POSTs (SPEC §4).
//!
//! A key is reserved by inserting its row: the primary key decides between concurrent
//! requests in this process or any other sharing the database. The response is stored
//! in the same transaction as the submission it answers, so a replay returns exactly what
//! the first request returned.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::error::StoreError;
use crate::schema::idempotency_keys;
use crate::{now, write_transaction, DbConnection};

/// How long keys are kept (SPEC: at least 24 hours).
pub const RETENTION_HOURS: i64 = 48;

/// A reservation not renewed for this long belongs to a request that died (its process
/// was killed, or lost the database); a retry may take it over. The request renews it
/// every [`RENEW_EVERY_SECONDS`] while it runs, however long it takes.
pub const ABANDONED_AFTER_SECONDS: i64 = 20;

/// How often a request renews its reservation while it runs.
pub const RENEW_EVERY_SECONDS: u64 = 5;

/// Who the key belongs to and what was asked.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    /// The provider the key is scoped to.
    pub scope: String,
    pub key: String,
    pub principal_sub: String,
    /// SHA-256 of the request (method, path, query and body).
    pub request_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// First use of the key: go ahead, then `complete` or `release` it.
    Proceed,
    /// The same request was answered before: send this again.
    Replay { status: u16, body: String },
    /// The same key is being answered right now.
    InFlight,
    /// The key was used for a different request (or by another principal).
    Mismatch,
}

#[derive(Debug, Queryable)]
struct KeyRow {
    principal_sub: String,
    request_sha256: String,
    state: String,
    response_status: Option<i32>,
    response_body: Option<String>,
    created_at: NaiveDateTime,
}

pub fn reserve(conn: &mut DbConnection, request: &KeyedRequest) -> Result<Reservation, StoreError> {
    write_transaction(conn, |conn| {
        let at = now().naive_utc();
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::created_at.lt(at - Duration::hours(RETENTION_HOURS))),
        )
        .execute(conn)?;
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::scope.eq(&request.scope),
                idempotency_keys::idempotency_key.eq(&request.key),
                idempotency_keys::principal_sub.eq(&request.principal_sub),
                idempotency_keys::request_sha256.eq(&request.request_sha256),
                idempotency_keys::state.eq("in_flight"),
                idempotency_keys::created_at.eq(at),
            ))
            .execute(conn);
        inserted
            .map(|_| Reservation::Proceed)
            .map_err(StoreError::from)
    })
    .or_else(|e: StoreError| {
        if e.is_unique_violation() {
            existing(conn, request)
        } else {
            Err(e)
        }
    })
}

/// The key is taken: decide from the stored row (in a fresh transaction, since a failed
/// insert aborts a PostgreSQL transaction).
fn existing(conn: &mut DbConnection, request: &KeyedRequest) -> Result<Reservation, StoreError> {
    write_transaction(conn, |conn| {
        let row: KeyRow = idempotency_keys::table
            .find((&request.scope, &request.key))
            .select((
                idempotency_keys::principal_sub,
                idempotency_keys::request_sha256,
                idempotency_keys::state,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
                idempotency_keys::created_at,
            ))
            .first(conn)?;
        if row.principal_sub != request.principal_sub
            || row.request_sha256 != request.request_sha256
        {
            return Ok(Reservation::Mismatch);
        }
        match (row.state.as_str(), row.response_status, row.response_body) {
            ("done", Some(status), Some(body)) => Ok(Reservation::Replay {
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt("idempotency status".into()))?,
                body,
            }),
            _ => {
                let at = now().naive_utc();
                if at - row.created_at > Duration::seconds(ABANDONED_AFTER_SECONDS) {
                    // Take over an abandoned reservation; only one retry can win it.
                    let taken = diesel::update(
                        idempotency_keys::table
                            .find((&request.scope, &request.key))
                            .filter(idempotency_keys::state.eq("in_flight"))
                            .filter(idempotency_keys::created_at.eq(row.created_at)),
                    )
                    .set(idempotency_keys::created_at.eq(at))
                    .execute(conn)?;
                    if taken == 1 {
                        return Ok(Reservation::Proceed);
                    }
                }
                Ok(Reservation::InFlight)
            }
        }
    })
}

/// Stores the response; call inside the transaction that wrote what it answers.
pub fn complete(
    conn: &mut DbConnection,
    request: &KeyedRequest,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    diesel::update(idempotency_keys::table.find((&request.scope, &request.key)))
        .set((
            idempotency_keys::state.eq("done"),
            idempotency_keys::response_status.eq(i32::from(status)),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Renews a reservation still in flight (its `created_at` is when it was reserved or last
/// renewed), so no retry takes it over while its request runs.
pub fn renew(conn: &mut DbConnection, request: &KeyedRequest) -> Result<(), StoreError> {
    diesel::update(
        idempotency_keys::table
            .find((&request.scope, &request.key))
            .filter(idempotency_keys::state.eq("in_flight")),
    )
    .set(idempotency_keys::created_at.eq(now().naive_utc()))
    .execute(conn)?;
    Ok(())
}

/// Frees the key after a failure that stored nothing, so the client may retry.
pub fn release(conn: &mut DbConnection, request: &KeyedRequest) -> Result<(), StoreError> {
    diesel::delete(
        idempotency_keys::table
            .find((&request.scope, &request.key))
            .filter(idempotency_keys::state.eq("in_flight")),
    )
    .execute(conn)?;
    Ok(())
}
