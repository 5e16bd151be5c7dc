//! The `dayops` binary's library: configuration, start-up and the demo council, shared
//! by `main.rs` and the end-to-end tests.

pub mod config;
pub mod demo;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::web;

use dayops_http::{AppState, Authenticator, BodyLimit};
use dayops_persistence::{Backend, Pool};

pub use config::Config;

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

/// Builds the server on an already-bound listener (port 0 in tests).
pub fn start(config: &Config, pool: Pool, listener: TcpListener) -> Result<Server, StartError> {
    let auth = Authenticator::new(
        config.verification_key()?,
        &config.jwt_issuer,
        &config.jwt_audience,
    )
    .map_err(config::ConfigError::from)?;
    let state = web::Data::new(AppState::new(
        pool,
        Backend::of_url(&config.database_url),
        auth,
        config.rate_limit_per_minute,
    ));
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    dayops_http::server(
        state,
        BodyLimit(config.max_body_bytes),
        listener,
        config.workers,
    )
    .map_err(|e| StartError::Bind(address, e))
}
