//! `GET /v1/events`: the feed of changes (SPEC §6.1). A provider reads the events about
//! its own objects; commissioners and auditors read every event.

use std::time::{Duration, Instant};

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use dayops_domain::events::EventType;
use dayops_domain::FieldError;
use dayops_persistence::feed::{self, FeedEvent};

use super::validate_query;
use crate::auth::Principal;
use crate::extract::Query;
use crate::problem::{may, ApiError, Problems};
use crate::{run, AppState};

/// How often a long poll looks again while it waits.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The `next_cursor` of the previous answer; absent, the feed from its start.
    #[param(minimum = 0, example = 0)]
    #[validate(range(min = 0))]
    pub after: Option<i64>,
    /// Only events of these types (comma-separated).
    #[param(value_type = Option<Vec<EventType>>, style = Form, explode = false, min_items = 1)]
    pub types: Option<String>,
    /// Events per answer, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
    /// When there is no event after the cursor yet, wait up to this many seconds for one
    /// (long polling), 0 to 30 (default 0).
    #[param(minimum = 0, maximum = 30)]
    #[validate(range(min = 0, max = 30))]
    pub wait: Option<u64>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<FeedEvent>,
    /// Pass as `after` for the next events: the last event's `seq`, or the cursor asked
    /// with when there were none. Always present: the feed has no end.
    #[schema(example = "42")]
    pub next_cursor: String,
}

fn parse_types(types: Option<&str>) -> Result<Vec<EventType>, ApiError> {
    types
        .into_iter()
        .flat_map(|names| names.split(','))
        .map(|name| {
            EventType::parse(name).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                ApiError::invalid(vec![FieldError::new(
                    "/query/types",
                    format!("{name} is not an event type (one of {})", known.join(", ")),
                )])
            })
        })
        .collect()
}

/// The events after a cursor, in the one order the feed has: a provider's own (submissions
/// stored or amended with their outcome; claims decided, paid or needing adjustment;
/// agreements placed, changed or ended on its contracts; contract changes and new rate
/// matrix versions), or, for commissioners and auditors, every event. An event is in the
/// feed once the audit log has sequenced the change (within a second), and keeps its
/// place: the same cursor always answers the same events, across restarts. With `wait`,
/// an answer with no events waits up to that many seconds for the next one.
#[utoipa::path(
    operation_id = "list_events",
    tag = "events",
    params(EventQuery),
    responses((status = 200, body = EventPage), Problems<{ may::QUERY }>)
)]
#[get("/v1/events")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    Query(query): Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let types = parse_types(query.types.as_deref())?;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    let deadline = Instant::now() + Duration::from_secs(query.wait.unwrap_or(0));
    let provider = principal.own_provider().map(str::to_string);
    loop {
        let (provider, types) = (provider.clone(), types.clone());
        let items = run(&state, move |conn| {
            Ok(feed::after(
                conn,
                after,
                provider.as_deref(),
                &types,
                limit,
            )?)
        })
        .await?;
        if !items.is_empty() || Instant::now() >= deadline {
            let next_cursor = items.last().map_or(after, |e| e.seq).to_string();
            return Ok(HttpResponse::Ok().json(EventPage { items, next_cursor }));
        }
        actix_web::rt::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
    }
}
