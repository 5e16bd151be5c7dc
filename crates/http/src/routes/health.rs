//! Liveness, readiness and metrics: no token needed.

use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, Problem, ProblemKind};
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
}

/// The process is up.
#[utoipa::path(operation_id = "healthz", tag = "operations", security(()), responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// The database answers.
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
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
