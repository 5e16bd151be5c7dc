//! The event feed (SPEC §6.1): a notice of each change a provider, or the council, would
//! want to hear about. A notice is written in the transaction of the change it tells of,
//! keyed by the audit event that records that change; when the sequencer gives the audit
//! event its place in the log, the notice takes the same place (`seq`). Until then it is
//! not in the feed. So the feed has one order, final once given: a cursor (a `seq`)
//! always reads the same events after it, in every process and after any restart.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::events::EventType;

use crate::schema::{audit_events, feed_events};
use crate::{now, DbConnection, StoreError};

/// What a change tells the feed: its type, whose it is and what it is about.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The provider whose object changed: it, and the council, hear of it.
    pub provider_id: String,
    pub event_type: EventType,
    pub object_id: String,
    pub object_version: Option<i32>,
    /// A small summary of the change. Never person data beyond a `person_ref`.
    pub payload: serde_json::Value,
}

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FeedEvent {
    /// The event's id: the id of the audit event that records the change (and the
    /// `webhook-id` of its deliveries).
    pub id: String,
    /// Its place in the feed (the audit log's `seq`); the cursor after it.
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub provider_id: String,
    /// The object the event is about: a submission, an agreement, a contract or a rate
    /// matrix version.
    pub object_id: String,
    pub object_version: Option<i32>,
    /// When the change was made.
    pub occurred_at: DateTime<Utc>,
    /// A summary of the change, by type: a submission's `status` and finding counts; a
    /// claim's `status`, `accepted_total_pence`, `remittance_ref`; an agreement's
    /// `person_ref` and `changed` members; a contract's `changed` members.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Insertable)]
#[diesel(table_name = feed_events)]
struct NewRow<'a> {
    event_id: &'a str,
    provider_id: &'a str,
    event_type: &'a str,
    object_id: &'a str,
    object_version: Option<i32>,
    payload: String,
    occurred_at: NaiveDateTime,
}

/// Records `notice` in the caller's transaction, under the audit event `event_id`.
pub fn record(conn: &mut DbConnection, event_id: &str, notice: &Notice) -> Result<(), StoreError> {
    let row = NewRow {
        event_id,
        provider_id: &notice.provider_id,
        event_type: notice.event_type.as_str(),
        object_id: &notice.object_id,
        object_version: notice.object_version,
        payload: notice.payload.to_string(),
        occurred_at: now().naive_utc(),
    };
    crate::insert_rows!(conn, feed_events::table, std::slice::from_ref(&row))?;
    Ok(())
}

/// The members whose values differ between two JSON objects (a resource before and
/// after a change), by name.
pub fn changed_members(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (before, after) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}

/// Gives the notices of the audit events `event_ids`, just sequenced in the caller's
/// transaction, their events' places.
pub fn place(conn: &mut DbConnection, event_ids: &[&str]) -> Result<(), StoreError> {
    for chunk in event_ids.chunks(500) {
        diesel::update(feed_events::table.filter(feed_events::event_id.eq_any(chunk)))
            .set(
                feed_events::seq.eq(audit_events::table
                    .filter(audit_events::event_id.eq(feed_events::event_id.nullable()))
                    .select(audit_events::seq)
                    .single_value()),
            )
            .execute(conn)?;
    }
    Ok(())
}

type Row = (
    String,
    Option<i64>,
    String,
    String,
    String,
    Option<i32>,
    String,
    NaiveDateTime,
);

/// Up to `limit` events after `after`, in order: a provider's own (`provider`), or every
/// one; of the given types only, when `types` is not empty.
pub fn after(
    conn: &mut DbConnection,
    after: i64,
    provider: Option<&str>,
    types: &[EventType],
    limit: i64,
) -> Result<Vec<FeedEvent>, StoreError> {
    let mut query = feed_events::table
        .filter(feed_events::seq.gt(after))
        .order(feed_events::seq.asc())
        .limit(limit)
        .select((
            feed_events::event_id,
            feed_events::seq,
            feed_events::event_type,
            feed_events::provider_id,
            feed_events::object_id,
            feed_events::object_version,
            feed_events::payload,
            feed_events::occurred_at,
        ))
        .into_boxed();
    if let Some(provider) = provider {
        query = query.filter(feed_events::provider_id.eq(provider.to_string()));
    }
    if !types.is_empty() {
        query = query.filter(feed_events::event_type.eq_any(types.iter().map(|t| t.as_str())));
    }
    let rows: Vec<Row> = query.load(conn)?;
    rows.into_iter()
        .map(
            |(id, seq, event_type, provider_id, object_id, object_version, payload, at)| {
                Ok(FeedEvent {
                    seq: seq
                        .ok_or_else(|| StoreError::Corrupt("feed: an unplaced event".into()))?,
                    event_type: EventType::parse(&event_type).ok_or_else(|| {
                        StoreError::Corrupt(format!("feed_events {id}: type {event_type}"))
                    })?,
                    payload: serde_json::from_str(&payload).map_err(|e| {
                        StoreError::Corrupt(format!("feed_events {id}: payload: {e}"))
                    })?,
                    id,
                    provider_id,
                    object_id,
                    object_version,
                    occurred_at: crate::utc(at),
                })
            },
        )
        .collect()
}
