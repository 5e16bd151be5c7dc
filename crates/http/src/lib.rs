//! The dayops HTTP API: actix-web handlers, authentication, problem+json and the
//! OpenAPI document generated from the same route registrations that serve requests.

pub mod auth;
pub mod budget;
pub mod conditional;
pub mod connection;
pub mod csv_export;
pub mod csv_register;
pub mod extract;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod patch;
pub mod pipeline;
pub mod problem;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod xlsx_workbook;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{web, App, HttpRequest};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use dayops_persistence::{Backend, DbConnection, Pool, StoreError};

pub use auth::{Authenticator, VerificationKey};
pub use extract::{BodyLimit, BodyTimeout};
use problem::ApiError;

/// What every handler shares.
pub struct AppState {
    pub pool: Pool,
    pub backend: Backend,
    /// The pool's database, for the connections [`run_large_read`] opens outside it.
    pub database_url: String,
    pub auth: Authenticator,
    pub metrics: metrics::Metrics,
    pub routes: openapi::RouteTable,
    pub limiter: ratelimit::RateLimiter,
    /// Signs the audit log's checkpoints; its public half verifies them.
    pub log_signer: std::sync::Arc<dayops_domain::note::LogSigner>,
    /// Where webhook subscriptions may point.
    pub webhook_targets: dayops_domain::webhook::TargetPolicy,
    /// The OpenAPI document `/openapi.json` serves, built once.
    pub document: serde_json::Value,
    /// The `ETag` of the documentation (`/docs`, `/openapi.json`).
    pub docs_etag: String,
    /// Providers a provider token has named and the database has: a token naming any
    /// other is refused.
    pub known_providers: parking_lot::RwLock<std::collections::HashSet<String>>,
    /// The identity provider tokens come from, if any (`/.well-known/openid-configuration`).
    pub discovery: Option<routes::health::Discovery>,
    /// Browser origins allowed to call the API (`DAYOPS_CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// What answers of stored versions and submission pipelines may hold at once.
    pub memory: budget::MemoryBudget,
}

impl AppState {
    /// `requests_per_minute` per principal; 0 for no limit.
    pub fn new(
        pool: Pool,
        database_url: &str,
        auth: Authenticator,
        requests_per_minute: u32,
        log_signer: std::sync::Arc<dayops_domain::note::LogSigner>,
        webhook_targets: dayops_domain::webhook::TargetPolicy,
    ) -> Self {
        let document = openapi::document();
        AppState {
            docs_etag: conditional::docs_etag(&document),
            known_providers: Default::default(),
            discovery: None,
            cors_origins: Vec::new(),
            memory: budget::MemoryBudget::default(),
            log_signer,
            webhook_targets,
            pool,
            backend: Backend::of_url(database_url),
            database_url: database_url.to_string(),
            auth,
            limiter: ratelimit::RateLimiter::new(requests_per_minute),
            metrics: metrics::Metrics::default(),
            routes: openapi::RouteTable::of(&document),
            document,
        }
    }
}

/// Runs synchronous diesel work on the blocking thread pool with a pooled connection, so
/// no actix worker ever waits on the database.
pub async fn run<T, F>(state: &web::Data<AppState>, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let shared = state.clone();
    off_the_workers(move || {
        let asked = std::time::Instant::now();
        let conn = shared.pool.get();
        shared.metrics.pool_wait(asked.elapsed().as_secs_f64());
        let mut conn = conn.map_err(StoreError::from)?;
        work(&mut conn)
    })
    .await
}

/// Runs `work` on each of `shares` at once, each like [`run`] on a pooled connection and
/// a blocking thread of its own; their results in the shares' order. For reports that
/// read a nation's rows in shares of the contracts, one a core.
pub async fn run_shares<S, T, F>(
    state: &web::Data<AppState>,
    shares: Vec<S>,
    work: F,
) -> Result<Vec<T>, ApiError>
where
    S: Send + 'static,
    T: Send + 'static,
    F: Fn(&mut DbConnection, S) -> Result<T, ApiError> + Clone + Send + 'static,
{
    futures_util::future::try_join_all(shares.into_iter().map(|share| {
        let work = work.clone();
        run(state, move |conn| work(conn, share))
    }))
    .await
}

/// Runs a read of a large text like [`run`], so that what it reads does not stay with a
/// pooled connection. On PostgreSQL it runs on a connection of its own, closed after it:
/// libpq keeps its input buffer as large as the largest answer it has read for as long
/// as the connection lives, so each pooled connection that had read a 28 MB register
/// went on holding 32 MB; how many run at once is bounded by the memory budget they
/// reserve first. On SQLite it runs on a pooled connection with its map of the file
/// taken down ([`dayops_persistence::db::unmapped`]).
pub async fn run_large_read<T, F>(state: &web::Data<AppState>, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    if state.backend != Backend::Postgresql {
        return run(state, move |conn| {
            dayops_persistence::db::unmapped(conn, work)
        })
        .await;
    }
    let shared = state.clone();
    off_the_workers(move || {
        let mut conn = dayops_persistence::establish(&shared.database_url)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        work(&mut conn)
    })
    .await
}

/// Runs CPU-heavy or blocking work on the blocking thread pool (under the request's id),
/// so no actix worker waits on it.
pub async fn off_the_workers<T, E, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    ApiError: From<E>,
{
    let request = request_id::current();
    Ok(web::block(move || request_id::within(request, work))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))??)
}

/// `HEAD` on any `GET` route: answered as the `GET` is (status and headers), without
/// its body.
async fn head_as_get(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if req.method() != actix_web::http::Method::HEAD {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    req.head_mut().method = actix_web::http::Method::GET;
    let response = next.call(req).await?;
    Ok(response.map_body(|_, _| actix_web::body::BoxBody::new(())))
}

/// Cross-origin requests from the allowed browser origins only: a council's own portal
/// may call the API from a browser, any other page may not. Preflights are answered here;
/// the headers a client acts on are exposed to its scripts.
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::header;
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .allowed_header("idempotency-key")
        .allowed_header(request_id::HEADER)
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
        ])
        .expose_headers(["audit-event-id", request_id::HEADER])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Unknown paths are 404; known paths with another method are 405 with `Allow`.
async fn fallback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<actix_web::HttpResponse, ApiError> {
    match state.routes.methods_for(req.path()) {
        Some(methods) if !methods.is_empty() => Err(ApiError::method_not_allowed(methods)),
        _ => Err(ApiError::not_found()),
    }
}

/// The HTTP server on `listener`, with `workers` worker threads.
pub fn server(
    state: web::Data<AppState>,
    (limit, body_timeout): (BodyLimit, BodyTimeout),
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    let document = state.document.clone();
    let origins = state.cors_origins.clone();
    let access_log = log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);
    let app = move || {
        let (app, _) = App::new()
            .into_utoipa_app()
            .openapi(openapi::ApiDoc::base())
            .configure(routes::configure)
            .split_for_parts();
        app.app_data(state.clone())
            .app_data(limit)
            .app_data(body_timeout)
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ApiError::with_errors(problem::ProblemKind::NotFound, e.to_string(), Vec::new())
                    .into()
            }))
            // `/docs` without its slash finds the UI too.
            .route(
                "/docs",
                web::get().to(|| async {
                    actix_web::HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .external_url_unchecked("/openapi.json", document.clone()),
            )
            .default_service(web::to(fallback))
            .wrap(from_fn(csv_export::export_routes))
            .wrap(from_fn(conditional::docs_caching))
            .wrap(from_fn(conditional::not_modified))
            .wrap(from_fn(head_as_get))
            .wrap(from_fn(metrics::record))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(cors(&origins))
            .wrap(from_fn(problem::ensure_problem))
            .wrap(from_fn(request_id::assign))
            // The route template, never the path: paths, query strings and bodies may
            // carry person references or whatever a client makes up. Only where the
            // access log is written: the logger formats each line before asking whether
            // it is wanted, a twentieth of answering a quick request.
            .wrap(Condition::new(
                access_log,
                Logger::new("%a \"%{method}xi %{route}xo\" %s %b %Dms request=%{x-request-id}o")
                    .custom_request_replace("method", |req| {
                        metrics::method_label(req.method()).to_string()
                    })
                    // Read from the answered request, which routing has matched already.
                    .custom_response_replace("route", |res| metrics::route_label(res.request())),
            ))
    };
    // As `HttpServer::listen` builds it, with each connection wrapped so that even
    // actix-http's own answer to an oversized head is problem+json.
    let address = listener.local_addr()?;
    let server = actix_server::Server::build()
        .workers(workers)
        .listen("dayops", listener, move || {
            let connections =
                actix_service::fn_service(|io: actix_web::rt::net::TcpStream| async move {
                    let peer = io.peer_addr().ok();
                    Ok::<_, actix_http::error::DispatchError>((
                        connection::Connection::new(io),
                        actix_http::Protocol::Http1,
                        peer,
                    ))
                });
            // actix-web's defaults for what `HttpServer` would set.
            let http = actix_http::HttpService::build()
                .keep_alive(actix_http::KeepAlive::default())
                .client_request_timeout(std::time::Duration::from_secs(5))
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(address)
                .finish(actix_service::map_config(app(), |_| {
                    actix_web::dev::AppConfig::default()
                }));
            actix_service::ServiceFactoryExt::and_then(connections, http)
        })?
        .run();
    Ok(server)
}
