//! The `dayops` binary's library: configuration, start-up and the demo council, shared
//! by `main.rs` and the end-to-end tests.

pub mod allocators;
pub mod config;
pub mod demo;
pub mod jwks;
pub mod logcli;
pub mod sqlite;
pub mod webhooks;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::web;

use dayops_http::{AppState, Authenticator, BodyLimit, BodyTimeout};
use dayops_persistence::Pool;

pub use config::Config;

/// mimalloc, chosen by measurement (`memory-bench`): after 32 clients posted 5,000-line
/// registers, the process held 281–284 MB ten seconds later with it and 513–645 MB with
/// glibc's allocator, which keeps freed memory in its arenas; after 8 concurrent GETs of
/// a 95,000-line register, 681–688 MB against 1,063–1,367 MB. Throughput was the same.
/// Its options are set in [`allocators`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Logs to standard error, filtered by `RUST_LOG` (default `info`). A line written while
/// a request is answered ends with its id, as the access log's line and the problem's
/// `instance` name it.
pub fn init_logging() {
    use std::io::Write;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let request = dayops_http::request_id::current();
            write!(
                buf,
                "[{} {:<5} {}] {}",
                buf.timestamp_millis(),
                record.level(),
                record.target(),
                record.args()
            )?;
            match request {
                // The access log's line names its request already.
                Some(id) if record.target() != "actix_web::middleware::logger" => {
                    writeln!(buf, " request={}", id.as_str())
                }
                _ => writeln!(buf),
            }
        })
        .init();
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] dayops_persistence::StoreError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

/// Opens the pool and brings the schema up to date.
pub fn open_database(config: &Config) -> Result<Pool, StartError> {
    let pool = dayops_persistence::pool(&config.database_url, config.pool_size)?;
    let mut conn = pool.get().map_err(dayops_persistence::StoreError::from)?;
    let ran = dayops_persistence::run_migrations(&mut conn)?;
    if ran > 0 {
        log::info!("applied {ran} migration(s)");
    }
    Ok(pool)
}

/// Runs the audit log's sequencer on a thread of its own for as long as the server's
/// state lives (it ends soon after the server stops).
fn spawn_sequencer(
    state: &web::Data<AppState>,
    pool: Pool,
    signer: std::sync::Arc<dayops_domain::note::LogSigner>,
    interval_secs: u64,
) {
    let alive = std::sync::Arc::downgrade(&state.clone().into_inner());
    let interval = std::time::Duration::from_secs(interval_secs);
    let spawned = std::thread::Builder::new()
        .name("audit-sequencer".into())
        .spawn(move || {
            dayops_persistence::audit::run_sequencer(&pool, &signer, interval, || {
                alive.strong_count() > 0
            });
        });
    if let Err(e) = spawned {
        log::error!("cannot start the audit log sequencer: {e}");
    }
}

/// Runs webhook deliveries on a thread of their own for as long as the server's state
/// lives.
fn spawn_deliveries(state: &web::Data<AppState>, pool: Pool, config: webhooks::DeliveryConfig) {
    let alive = std::sync::Arc::downgrade(&state.clone().into_inner());
    let spawned = std::thread::Builder::new()
        .name("webhook-deliveries".into())
        .spawn(move || webhooks::run(&pool, &config, || alive.strong_count() > 0));
    if let Err(e) = spawned {
        log::error!("cannot start webhook deliveries: {e}");
    }
}

/// Builds the server on an already-bound listener (port 0 in tests).
pub fn start(config: &Config, pool: Pool, listener: TcpListener) -> Result<Server, StartError> {
    let auth = Authenticator::new(
        config.verification_key()?,
        &config.jwt_issuer,
        &config.jwt_audience,
    )
    .map_err(config::ConfigError::from)?
    .with_mapping(config.claim_mapping()?);
    let signer = std::sync::Arc::new(config.log_signer()?);
    let mut state = AppState::new(
        pool.clone(),
        &config.database_url,
        auth,
        config.rate_limit_per_minute,
        signer.clone(),
        dayops_domain::webhook::TargetPolicy::new(&config.webhook_allow_hosts),
    );
    state.discovery = config.discovery();
    state.cors_origins = config.cors_origins.clone();
    let state = web::Data::new(state);
    if config.webhooks {
        spawn_deliveries(&state, pool.clone(), config.delivery());
    }
    if config.sequencer {
        spawn_sequencer(&state, pool, signer, config.checkpoint_interval_secs);
    }
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    dayops_http::server(
        state,
        (
            BodyLimit(config.max_body_bytes),
            BodyTimeout(std::time::Duration::from_secs(config.body_timeout_secs)),
        ),
        listener,
        config.workers,
    )
    .map_err(|e| StartError::Bind(address, e))
}
