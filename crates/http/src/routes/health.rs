//! Liveness, readiness and metrics: no token needed.

use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use dayops_domain::calendar::{calendar_warning, calendars_end};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, Problem, ProblemKind};
use crate::routes::submissions::today;
use crate::{run, AppState};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgresql`.
    pub database: String,
    /// The last day the built-in bank-holiday calendars cover.
    pub bank_holiday_calendars_end: NaiveDate,
    /// What an operator should act on while the service still runs: for example the
    /// bank-holiday calendars ending within a year.
    pub warnings: Vec<String>,
}

/// Where the tokens this service accepts come from: the `openIdConnect` security
/// scheme's document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityProvider {
    /// The `iss` tokens carry.
    pub issuer: String,
    /// The key set tokens are verified with.
    pub jwks_uri: String,
}

/// How tokens are issued to this service (OpenID Connect discovery), when an identity
/// provider issues them.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// The identity provider's own discovery document is at this address.
    At(String),
    /// Its key set is configured directly: this service describes it.
    Keys(IdentityProvider),
}

/// The identity provider whose tokens this service accepts: a redirect to its OpenID
/// Connect discovery document, or (when its key set is configured directly) the issuer
/// and key set. 404 when tokens are verified with a configured key instead.
#[utoipa::path(
    operation_id = "openid_configuration",
    tag = "operations",
    security(()),
    responses(
        (status = 200, body = IdentityProvider, description = "The issuer and the key set"),
        (status = 307, description = "The identity provider's own discovery document", headers(("Location" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "Tokens are not issued by an OpenID Connect provider here"),
    )
)]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match &state.discovery {
        Some(Discovery::At(url)) => Ok(HttpResponse::TemporaryRedirect()
            .insert_header((actix_web::http::header::LOCATION, url.as_str()))
            .finish()),
        Some(Discovery::Keys(provider)) => Ok(HttpResponse::Ok().json(provider)),
        None => Err(ApiError::new(
            ProblemKind::NotFound,
            "tokens are verified with a configured key, not an identity provider's",
        )),
    }
}

/// The process is up.
#[utoipa::path(operation_id = "healthz", tag = "operations", security(()), responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// The database answers. Warnings (such as the bank-holiday calendars ending within a
/// year) do not make the service unready.
#[utoipa::path(
    operation_id = "readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, body = Readiness),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Database unreachable"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    run(&state, |conn| {
        conn.batch_execute("SELECT 1").map_err(|e| {
            log::error!("readiness check failed: {e}");
            ApiError::new(ProblemKind::Unavailable, "the database is not reachable")
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready".into(),
        database: state.backend.name().into(),
        bank_holiday_calendars_end: calendars_end(),
        warnings: calendar_warning(today()).into_iter().collect(),
    }))
}

/// Prometheus metrics: request counts and latency by route template, method and status.
#[utoipa::path(
    operation_id = "metrics",
    tag = "operations",
    security(()),
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.state();
    // The sequencer's backlog is read from the database; metrics are still answered,
    // without it, when the database is away.
    let backlog = run(&state, |conn| {
        let (pending, oldest) = dayops_persistence::audit::backlog(conn)?;
        let age = oldest.map_or(0.0, |at| {
            (chrono::Utc::now().naive_utc() - at)
                .as_seconds_f64()
                .max(0.0)
        });
        Ok((pending, age))
    })
    .await
    .ok();
    let gauges = crate::metrics::Gauges {
        backend: state.backend.name(),
        pool_size: state.pool.max_size(),
        pool_connections: pool.connections,
        pool_idle: pool.idle_connections,
        sequencer_backlog: backlog,
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&gauges))
}
