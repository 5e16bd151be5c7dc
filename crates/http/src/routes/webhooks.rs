//! `/v1/webhook-subscriptions`: a provider's (or, for commissioners, the council's)
//! subscriptions to the event feed, delivered as signed webhooks (Standard Webhooks), with
//! their delivery log and redelivery on request.

use actix_web::http::header::LOCATION;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::types::Role;
use dayops_domain::FieldError;
use dayops_persistence::webhooks::{self, Delivery, Subscription, SubscriptionInput, COUNCIL};
use dayops_persistence::Page;

use super::{audited, validate_query, PageQuery};
use crate::auth::Principal;
use crate::extract::{JsonBody, Query};
use crate::problem::{may, ApiError, Problems};
use crate::{run, AppState};

/// Whose subscriptions the caller manages: a provider its own, a commissioner the
/// council's. Auditors read the trail, not the webhooks.
fn owner(principal: &Principal) -> Result<String, ApiError> {
    match (principal.role, principal.own_provider()) {
        (Role::Provider, Some(provider)) => Ok(provider.to_string()),
        (Role::Commissioner, _) => Ok(COUNCIL.to_string()),
        _ => Err(ApiError::forbidden()),
    }
}

/// A new signing secret: 32 random bytes.
fn new_secret() -> Result<String, ApiError> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key)
        .map_err(|e| ApiError::Internal(format!("no randomness for a webhook secret: {e}")))?;
    Ok(dayops_domain::webhook::new_secret(&key))
}

/// A subscription with its signing secret, shown only in the answer that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    /// Shown once: keep it now; rotate it to see a new one.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// Subscribe to the event feed: each event of the chosen types (all, when none are named)
/// is POSTed to the URL, signed per the Standard Webhooks specification (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`), in the feed's order, at least once, from
/// the feed's present end. The URL must be `https` and public.
#[utoipa::path(
    operation_id = "create_webhook_subscription",
    tag = "events",
    request_body = SubscriptionInput,
    responses(
        (status = 201, body = SubscriptionWithSecret, headers(("Location" = String), ("Audit-Event-Id" = String, description = "The audit event that records the change"))),
        Problems<{ may::ROLE | may::BODY }>
    )
)]
#[post("/v1/webhook-subscriptions")]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    JsonBody(mut input): JsonBody<SubscriptionInput>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&principal)?;
    let mut errors = Vec::new();
    if let Err(reason) = state.webhook_targets.check_url(&input.url) {
        errors.push(FieldError::new("/url", reason));
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 200)
    {
        errors.push(FieldError::new(
            "/description",
            "must be at most 200 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    input.event_types.sort_by_key(|t| t.as_str());
    input.event_types.dedup();
    let secret = new_secret()?;
    let actor = principal.actor();
    let stored_secret = secret.clone();
    let made = run(&state, move |conn| {
        Ok(webhooks::create(
            conn,
            &actor,
            &owner,
            input,
            &stored_secret,
        )?)
    })
    .await?;
    let mut created = HttpResponse::Created();
    created.insert_header((
        LOCATION,
        format!("/v1/webhook-subscriptions/{}", made.value.id),
    ));
    Ok(audited(
        created,
        made.map(|subscription| SubscriptionWithSecret {
            subscription,
            secret,
        }),
    ))
}

/// List the caller's subscriptions (a provider's own, or the council's).
#[utoipa::path(
    operation_id = "list_webhook_subscriptions",
    tag = "events",
    params(PageQuery),
    responses((status = 200, body = Page<Subscription>), Problems<{ may::ROLE | may::QUERY }>)
)]
#[get("/v1/webhook-subscriptions")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let owner = owner(&principal)?;
    let limit = query.limit();
    let page = run(&state, move |conn| {
        Ok(webhooks::list(
            conn,
            &owner,
            query.cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a subscription.
#[utoipa::path(
    operation_id = "get_webhook_subscription",
    tag = "events",
    responses((status = 200, body = Subscription), Problems<{ may::ROLE | may::FIND }>)
)]
#[get("/v1/webhook-subscriptions/{id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&principal)?;
    let id = id.into_inner();
    let subscription = run(&state, move |conn| Ok(webhooks::get(conn, &owner, &id)?)).await?;
    Ok(HttpResponse::Ok().json(subscription))
}

/// Delete a subscription and its delivery log; nothing more is delivered to it.
#[utoipa::path(
    operation_id = "delete_webhook_subscription",
    tag = "events",
    responses(
        (status = 204, description = "Deleted", headers(("Audit-Event-Id" = String, description = "The audit event that records the change"))),
        Problems<{ may::ROLE | may::FIND }>
    )
)]
#[delete("/v1/webhook-subscriptions/{id}")]
pub async fn remove(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&principal)?;
    let actor = principal.actor();
    let id = id.into_inner();
    let events = run(&state, move |conn| {
        Ok(webhooks::delete(conn, &actor, &owner, &id)?)
    })
    .await?;
    let mut response = HttpResponse::NoContent();
    response.insert_header((super::AUDIT_EVENT_ID, events.join(", ")));
    Ok(response.finish())
}

/// Replace the signing secret and show the new one (once). Deliveries from now on are
/// signed with it.
#[utoipa::path(
    operation_id = "rotate_webhook_secret",
    tag = "events",
    responses(
        (status = 200, body = SubscriptionWithSecret, headers(("Audit-Event-Id" = String, description = "The audit event that records the change"))),
        Problems<{ may::ROLE | may::FIND }>
    )
)]
#[post("/v1/webhook-subscriptions/{id}/rotate-secret")]
pub async fn rotate_secret(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&principal)?;
    let actor = principal.actor();
    let id = id.into_inner();
    let secret = new_secret()?;
    let stored_secret = secret.clone();
    let rotated = run(&state, move |conn| {
        Ok(webhooks::rotate_secret(
            conn,
            &actor,
            &owner,
            &id,
            &stored_secret,
        )?)
    })
    .await?;
    Ok(audited(
        HttpResponse::Ok(),
        rotated.map(|subscription| SubscriptionWithSecret {
            subscription,
            secret,
        }),
    ))
}

/// Turn a disabled subscription back on: delivery resumes at the event it stopped at.
#[utoipa::path(
    operation_id = "enable_webhook_subscription",
    tag = "events",
    responses(
        (status = 200, body = Subscription, headers(("Audit-Event-Id" = String, description = "The audit event that records the change"))),
        Problems<{ may::ROLE | may::FIND }>
    )
)]
#[post("/v1/webhook-subscriptions/{id}/enable")]
pub async fn enable(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&principal)?;
    let actor = principal.actor();
    let id = id.into_inner();
    let enabled = run(&state, move |conn| {
        Ok(webhooks::enable(conn, &actor, &owner, &id)?)
    })
    .await?;
    Ok(audited(HttpResponse::Ok(), enabled))
}

/// The delivery log of a subscription, newest first: each attempt, its answer or error,
/// and how long it took.
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "events",
    params(PageQuery),
    responses((status = 200, body = Page<Delivery>), Problems<{ may::ROLE | may::FIND | may::QUERY }>)
)]
#[get("/v1/webhook-subscriptions/{id}/deliveries")]
pub async fn deliveries(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    validate_query(&query)?;
    let owner = owner(&principal)?;
    let id = id.into_inner();
    let limit = query.limit();
    let page = run(&state, move |conn| {
        Ok(webhooks::deliveries(
            conn,
            &owner,
            &id,
            query.cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Deliver a delivery's event again (with the same `webhook-id`), ahead of the
/// subscription's next event.
#[utoipa::path(
    operation_id = "redeliver_webhook",
    tag = "events",
    responses((status = 202, description = "Queued"), Problems<{ may::ROLE | may::FIND }>)
)]
#[post("/v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&principal)?;
    let (id, delivery_id) = path.into_inner();
    run(&state, move |conn| {
        Ok(webhooks::redeliver(conn, &owner, &id, &delivery_id)?)
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}
