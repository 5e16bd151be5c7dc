//! Webhook subscriptions, the claim a delivering process takes on one, and the delivery
//! log. The outbox is the event feed (`feed_events`, written in the transaction of each
//! change); a subscription holds a cursor into it and is delivered in the feed's order, so
//! the events for one object (and all others) arrive in the order they happened.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use dayops_domain::audit::{Actor, NewEvent};
use dayops_domain::events::EventType;

use crate::audit::{self, Audited};
use crate::feed::{self, FeedEvent, Notice};
use crate::schema::{feed_events, webhook_deliveries, webhook_redeliveries, webhook_subscriptions};
use crate::{new_id, now, utc, write_transaction, DbConnection, Page, StoreError};

/// The owner of the council's own subscriptions (a commissioner's).
pub const COUNCIL: &str = "council";

/// What a subscriber asks for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// Where deliveries are POSTed: `https://…` (plain `http` only to hosts the server
    /// allows, for development).
    #[schema(
        max_length = 2048,
        example = "https://backoffice.example/dayops/webhooks"
    )]
    pub url: String,
    /// The event types to deliver; empty or absent, every type.
    #[serde(default)]
    pub event_types: Vec<EventType>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

/// A subscription as stored (its secret is shown once, when made or rotated).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    /// The provider it belongs to, or `council`.
    pub owner: String,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    /// `active`, or `disabled` after deliveries failed for too long (or by hand).
    #[schema(example = "active")]
    pub status: String,
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row at the next event.
    pub failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
struct Row {
    id: String,
    owner: String,
    url: String,
    event_types: String,
    description: Option<String>,
    secret: String,
    status: String,
    disabled_reason: Option<String>,
    cursor_seq: i64,
    failures: i32,
    failing_since: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Row {
    fn types(&self) -> Result<Vec<EventType>, StoreError> {
        crate::error::from_json("webhook_subscriptions.event_types", &self.event_types)
    }

    fn view(&self) -> Result<Subscription, StoreError> {
        Ok(Subscription {
            id: self.id.clone(),
            owner: self.owner.clone(),
            url: self.url.clone(),
            event_types: self.types()?,
            description: self.description.clone(),
            status: self.status.clone(),
            disabled_reason: self.disabled_reason.clone(),
            failures: self.failures,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

fn audit_event(action: &'static str, id: &str) -> NewEvent {
    NewEvent {
        id: None,
        action,
        entity: "webhook_subscription",
        entity_id: id.to_string(),
        version: None,
        content_sha256: None,
    }
}

fn load(conn: &mut DbConnection, owner: &str, id: &str) -> Result<Row, StoreError> {
    webhook_subscriptions::table
        .find(id)
        .filter(webhook_subscriptions::owner.eq(owner))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// Stores a subscription for `owner`, delivering from the feed's present end onwards.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &str,
    input: SubscriptionInput,
    secret: &str,
) -> Result<Audited<Subscription>, StoreError> {
    let at = now().naive_utc();
    let id = new_id();
    write_transaction(conn, |conn| {
        let end: Option<i64> = feed_events::table
            .select(diesel::dsl::max(feed_events::seq))
            .first(conn)?;
        diesel::insert_into(webhook_subscriptions::table)
            .values((
                webhook_subscriptions::id.eq(&id),
                webhook_subscriptions::owner.eq(owner),
                webhook_subscriptions::url.eq(&input.url),
                webhook_subscriptions::event_types.eq(crate::error::to_json(&input.event_types)?),
                webhook_subscriptions::description.eq(&input.description),
                webhook_subscriptions::secret.eq(secret),
                webhook_subscriptions::status.eq("active"),
                webhook_subscriptions::cursor_seq.eq(end.unwrap_or(0)),
                webhook_subscriptions::failures.eq(0),
                webhook_subscriptions::next_attempt_at.eq(at),
                webhook_subscriptions::created_at.eq(at),
                webhook_subscriptions::updated_at.eq(at),
            ))
            .execute(conn)?;
        let events = audit::append(conn, actor, vec![audit_event("create", &id)])?;
        Ok(Audited {
            value: load(conn, owner, &id)?.view()?,
            events,
        })
    })
}

pub fn get(conn: &mut DbConnection, owner: &str, id: &str) -> Result<Subscription, StoreError> {
    load(conn, owner, id)?.view()
}

pub fn list(
    conn: &mut DbConnection,
    owner: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Subscription>, StoreError> {
    let mut query = webhook_subscriptions::table
        .filter(webhook_subscriptions::owner.eq(owner.to_string()))
        .select(Row::as_select())
        .order(webhook_subscriptions::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(webhook_subscriptions::id.gt(after.to_string()));
    }
    let rows: Vec<Row> = query.load(conn)?;
    let items = rows.iter().map(Row::view).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, limit, |s| s.id.clone()))
}

pub fn delete(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &str,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    write_transaction(conn, |conn| {
        load(conn, owner, id)?;
        diesel::delete(
            webhook_redeliveries::table.filter(webhook_redeliveries::subscription_id.eq(id)),
        )
        .execute(conn)?;
        diesel::delete(
            webhook_deliveries::table.filter(webhook_deliveries::subscription_id.eq(id)),
        )
        .execute(conn)?;
        diesel::delete(webhook_subscriptions::table.find(id)).execute(conn)?;
        audit::append(conn, actor, vec![audit_event("delete", id)])
    })
}

/// Replaces the signing secret; deliveries from now on are signed with the new one.
pub fn rotate_secret(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &str,
    id: &str,
    secret: &str,
) -> Result<Audited<Subscription>, StoreError> {
    write_transaction(conn, |conn| {
        load(conn, owner, id)?;
        diesel::update(webhook_subscriptions::table.find(id))
            .set((
                webhook_subscriptions::secret.eq(secret),
                webhook_subscriptions::updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        let events = audit::append(conn, actor, vec![audit_event("rotate_secret", id)])?;
        Ok(Audited {
            value: load(conn, owner, id)?.view()?,
            events,
        })
    })
}

/// Turns a disabled subscription back on: delivery resumes at the event it stopped at.
pub fn enable(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &str,
    id: &str,
) -> Result<Audited<Subscription>, StoreError> {
    write_transaction(conn, |conn| {
        load(conn, owner, id)?;
        let at = now().naive_utc();
        diesel::update(webhook_subscriptions::table.find(id))
            .set((
                webhook_subscriptions::status.eq("active"),
                webhook_subscriptions::disabled_reason.eq(None::<String>),
                webhook_subscriptions::failures.eq(0),
                webhook_subscriptions::failing_since.eq(None::<NaiveDateTime>),
                webhook_subscriptions::next_attempt_at.eq(at),
                webhook_subscriptions::updated_at.eq(at),
            ))
            .execute(conn)?;
        let events = audit::append(conn, actor, vec![audit_event("enable", id)])?;
        Ok(Audited {
            value: load(conn, owner, id)?.view()?,
            events,
        })
    })
}

/// One attempt to deliver an event, as logged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    /// The event delivered (its `webhook-id`).
    pub event_id: String,
    pub seq: i64,
    /// 1 for the first attempt at this event, counting on through retries.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    pub status_code: Option<i32>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    pub duration_ms: i64,
    pub succeeded: bool,
    /// Asked for by hand (`…/redeliver`).
    pub redelivery: bool,
}

type DeliveryRow = (
    String,
    String,
    i64,
    i32,
    NaiveDateTime,
    Option<i32>,
    Option<String>,
    i64,
    bool,
    bool,
);

fn delivery(
    (id, event_id, seq, attempt, at, status_code, error, duration_ms, succeeded, redelivery): DeliveryRow,
) -> Delivery {
    Delivery {
        id,
        event_id,
        seq,
        attempt,
        attempted_at: utc(at),
        status_code,
        error,
        duration_ms,
        succeeded,
        redelivery,
    }
}

/// A subscription's deliveries, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    owner: &str,
    id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Page<Delivery>, StoreError> {
    load(conn, owner, id)?;
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(id.to_string()))
        .order(webhook_deliveries::id.desc())
        .limit(limit + 1)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_deliveries::seq,
            webhook_deliveries::attempt,
            webhook_deliveries::attempted_at,
            webhook_deliveries::status_code,
            webhook_deliveries::error,
            webhook_deliveries::duration_ms,
            webhook_deliveries::succeeded,
            webhook_deliveries::redelivery,
        ))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::id.lt(before.to_string()));
    }
    let rows: Vec<DeliveryRow> = query.load(conn)?;
    let items = rows.into_iter().map(delivery).collect();
    Ok(Page::from_rows(items, limit, |d: &Delivery| d.id.clone()))
}

/// Asks for the event of delivery `delivery_id` to be delivered again, ahead of the
/// subscription's next event.
pub fn redeliver(
    conn: &mut DbConnection,
    owner: &str,
    id: &str,
    delivery_id: &str,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        load(conn, owner, id)?;
        let event_id: String = webhook_deliveries::table
            .find(delivery_id)
            .filter(webhook_deliveries::subscription_id.eq(id))
            .select(webhook_deliveries::event_id)
            .first(conn)
            .optional()?
            .ok_or(StoreError::NotFound)?;
        let at = now().naive_utc();
        diesel::delete(
            webhook_redeliveries::table
                .filter(webhook_redeliveries::subscription_id.eq(id))
                .filter(webhook_redeliveries::event_id.eq(&event_id)),
        )
        .execute(conn)?;
        diesel::insert_into(webhook_redeliveries::table)
            .values((
                webhook_redeliveries::subscription_id.eq(id),
                webhook_redeliveries::event_id.eq(&event_id),
                webhook_redeliveries::requested_at.eq(at),
            ))
            .execute(conn)?;
        diesel::update(webhook_subscriptions::table.find(id))
            .set(webhook_subscriptions::next_attempt_at.eq(at))
            .execute(conn)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Delivering

/// A subscription a process has taken, with what it needs to deliver.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub owner: String,
    pub url: String,
    pub secret: String,
    pub types: Vec<EventType>,
    pub cursor_seq: i64,
    pub failures: i32,
    pub failing_since: Option<DateTime<Utc>>,
}

/// Takes one due subscription for `lease` on behalf of `me`: active, due, and not taken
/// by another process (or its taker's lease ran out, as a killed process's does).
pub fn claim(
    conn: &mut DbConnection,
    me: &str,
    lease: std::time::Duration,
) -> Result<Option<Claimed>, StoreError> {
    let at = now();
    let until =
        at + chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::seconds(30));
    let (at, until) = (at.naive_utc(), until.naive_utc());
    // A plain read first: with nothing due (the usual case), no write transaction is
    // opened, so an idle worker takes no lock from the writers.
    let anything_due = webhook_subscriptions::table
        .filter(webhook_subscriptions::status.eq("active"))
        .filter(webhook_subscriptions::next_attempt_at.le(at))
        .select(webhook_subscriptions::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !anything_due {
        return Ok(None);
    }
    write_transaction(conn, |conn| {
        let due = webhook_subscriptions::table
            .filter(webhook_subscriptions::status.eq("active"))
            .filter(webhook_subscriptions::next_attempt_at.le(at))
            .filter(
                webhook_subscriptions::lease_until
                    .is_null()
                    .or(webhook_subscriptions::lease_until.lt(at)),
            )
            .order(webhook_subscriptions::next_attempt_at.asc())
            .select(webhook_subscriptions::id);
        // Another process's row lock means it is taking that one: pass it by.
        let id: Option<String> = match conn {
            DbConnection::Postgresql(c) => due.for_update().skip_locked().first(c).optional()?,
            DbConnection::Sqlite(c) => due.first(c).optional()?,
        };
        let Some(id) = id else { return Ok(None) };
        diesel::update(webhook_subscriptions::table.find(&id))
            .set((
                webhook_subscriptions::lease_until.eq(until),
                webhook_subscriptions::leased_by.eq(me),
            ))
            .execute(conn)?;
        let row: Row = webhook_subscriptions::table
            .find(&id)
            .select(Row::as_select())
            .first(conn)?;
        Ok(Some(Claimed {
            types: row.types()?,
            id: row.id,
            owner: row.owner,
            url: row.url,
            secret: row.secret,
            cursor_seq: row.cursor_seq,
            failures: row.failures,
            failing_since: row.failing_since.map(utc),
        }))
    })
}

/// The next event to deliver: a redelivery asked for, or the feed's next event after the
/// cursor that the owner may see and the subscription wants. `(event, is_redelivery)`.
pub fn next_event(
    conn: &mut DbConnection,
    claimed: &Claimed,
) -> Result<Option<(FeedEvent, bool)>, StoreError> {
    let provider = (claimed.owner != COUNCIL).then_some(claimed.owner.as_str());
    let asked: Option<String> = webhook_redeliveries::table
        .filter(webhook_redeliveries::subscription_id.eq(&claimed.id))
        .order(webhook_redeliveries::requested_at.asc())
        .select(webhook_redeliveries::event_id)
        .first(conn)
        .optional()?;
    if let Some(event_id) = asked {
        let seq: Option<Option<i64>> = feed_events::table
            .find(&event_id)
            .select(feed_events::seq)
            .first(conn)
            .optional()?;
        if let Some(Some(seq)) = seq {
            let found = feed::after(conn, seq - 1, provider, &[], 1)?;
            if let Some(event) = found.into_iter().find(|e| e.id == event_id) {
                return Ok(Some((event, true)));
            }
        }
        // Nothing (left) to redeliver under that id.
        diesel::delete(
            webhook_redeliveries::table
                .filter(webhook_redeliveries::subscription_id.eq(&claimed.id))
                .filter(webhook_redeliveries::event_id.eq(&event_id)),
        )
        .execute(conn)?;
    }
    let next = feed::after(conn, claimed.cursor_seq, provider, &claimed.types, 1)?;
    Ok(next.into_iter().next().map(|event| (event, false)))
}

/// How an attempt went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub succeeded: bool,
}

/// What follows a failed attempt: when to try again, or to give up and disable.
#[derive(Debug, Clone, Copy)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    Disable,
}

/// Records an attempt at `event` and moves the subscription on: past the event when it
/// succeeded; otherwise to its next try, or disabled (with a notice in the owner's feed).
/// Applies only while `me` still holds the lease.
pub fn record(
    conn: &mut DbConnection,
    me: &str,
    claimed: &Claimed,
    (event, redelivery): (&FeedEvent, bool),
    attempt: &Attempt,
    after_failure: AfterFailure,
) -> Result<bool, StoreError> {
    let at = now().naive_utc();
    write_transaction(conn, |conn| {
        let held = webhook_subscriptions::table
            .find(&claimed.id)
            .filter(webhook_subscriptions::leased_by.eq(me))
            .select(webhook_subscriptions::id)
            .first::<String>(conn)
            .optional()?
            .is_some();
        if !held {
            return Ok(false);
        }
        let number = if attempt.succeeded || redelivery {
            1
        } else {
            claimed.failures + 1
        };
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::id.eq(new_id()),
                webhook_deliveries::subscription_id.eq(&claimed.id),
                webhook_deliveries::event_id.eq(&event.id),
                webhook_deliveries::seq.eq(event.seq),
                webhook_deliveries::attempt.eq(number),
                webhook_deliveries::attempted_at.eq(at),
                webhook_deliveries::status_code.eq(attempt.status_code),
                webhook_deliveries::error.eq(&attempt.error),
                webhook_deliveries::duration_ms.eq(attempt.duration_ms),
                webhook_deliveries::succeeded.eq(attempt.succeeded),
                webhook_deliveries::redelivery.eq(redelivery),
            ))
            .execute(conn)?;
        let subscription = webhook_subscriptions::table.find(&claimed.id);
        if redelivery {
            // A redelivery is tried once; its outcome is in the log either way.
            diesel::delete(
                webhook_redeliveries::table
                    .filter(webhook_redeliveries::subscription_id.eq(&claimed.id))
                    .filter(webhook_redeliveries::event_id.eq(&event.id)),
            )
            .execute(conn)?;
            return Ok(true);
        }
        if attempt.succeeded {
            diesel::update(subscription)
                .set((
                    webhook_subscriptions::cursor_seq.eq(event.seq),
                    webhook_subscriptions::failures.eq(0),
                    webhook_subscriptions::failing_since.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            return Ok(true);
        }
        let failing_since = claimed.failing_since.map_or(at, |t| t.naive_utc());
        match after_failure {
            AfterFailure::RetryAt(when) => {
                diesel::update(subscription)
                    .set((
                        webhook_subscriptions::failures.eq(claimed.failures + 1),
                        webhook_subscriptions::failing_since.eq(failing_since),
                        webhook_subscriptions::next_attempt_at.eq(when.naive_utc()),
                    ))
                    .execute(conn)?;
            }
            AfterFailure::Disable => {
                let reason = format!(
                    "deliveries failed {} times in a row since {}",
                    claimed.failures + 1,
                    utc(failing_since).to_rfc3339()
                );
                diesel::update(subscription)
                    .set((
                        webhook_subscriptions::failures.eq(claimed.failures + 1),
                        webhook_subscriptions::failing_since.eq(failing_since),
                        webhook_subscriptions::status.eq("disabled"),
                        webhook_subscriptions::disabled_reason.eq(&reason),
                        webhook_subscriptions::updated_at.eq(at),
                    ))
                    .execute(conn)?;
                let system = Actor {
                    sub: "dayops-webhooks".into(),
                    role: dayops_domain::types::Role::Commissioner,
                };
                let ids = audit::append(conn, &system, vec![audit_event("disable", &claimed.id)])?;
                let notice = Notice {
                    provider_id: claimed.owner.clone(),
                    event_type: EventType::WebhookSubscriptionDisabled,
                    object_id: claimed.id.clone(),
                    object_version: None,
                    payload: serde_json::json!({
                        "url": claimed.url,
                        "reason": reason,
                        "stopped_at_seq": event.seq,
                    }),
                };
                if let Some(id) = ids.first() {
                    feed::record(conn, id, &notice)?;
                }
            }
        }
        Ok(true)
    })
}

/// Gives the lease up, to be taken again at `next` (now, after work; a moment later when
/// there was nothing to deliver).
pub fn release(
    conn: &mut DbConnection,
    me: &str,
    id: &str,
    next: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let subscription = webhook_subscriptions::table
        .find(id)
        .filter(webhook_subscriptions::leased_by.eq(me));
    match next {
        Some(next) => diesel::update(subscription)
            .set((
                webhook_subscriptions::lease_until.eq(None::<NaiveDateTime>),
                webhook_subscriptions::leased_by.eq(None::<String>),
                webhook_subscriptions::next_attempt_at.eq(next.naive_utc()),
            ))
            .execute(conn)?,
        None => diesel::update(subscription)
            .set((
                webhook_subscriptions::lease_until.eq(None::<NaiveDateTime>),
                webhook_subscriptions::leased_by.eq(None::<String>),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Whether a subscription failing since `failing_since` has failed for `disable_after`
/// or longer: its next failure disables it.
pub fn past_retry_window(
    failing_since: Option<DateTime<Utc>>,
    disable_after: std::time::Duration,
) -> bool {
    let Some(since) = failing_since else {
        return false;
    };
    let window = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::days(3));
    Utc::now() - since >= window
}
