//! `dayops`: serve, migrate, token, demo, openapi.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dayops_domain::types::Role;
use dayops_http::auth::{mint, TokenClaims};
use dayops_server::config::JwtKey;
use dayops_server::{demo, open_database, start, Config};

#[derive(Parser)]
#[command(name = "dayops", version, about = "The Day Opportunities Provider API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (migrates the database first).
    Serve {
        /// Load the demo council first (skipped when it is already loaded).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint a development token signed with DAYOPS_JWT_SECRET.
    Token {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "developer")]
        sub: String,
        /// Required for --role provider.
        #[arg(long)]
        provider_id: Option<String>,
        #[arg(long, default_value_t = 8)]
        ttl_hours: u64,
    },
    /// Load a demo council: providers, contracts, rate matrices and agreements.
    Demo,
    /// Print the OpenAPI document.
    Openapi,
    /// Check the audit chain, or export its head to keep elsewhere.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the chain from the first event; exits non-zero if it is broken or does not
    /// hold the checkpoint given.
    Verify {
        /// A checkpoint written by `dayops audit checkpoint`: the chain must still hold it.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Write the chain's head (sequence number and hash) as JSON, to keep outside the
    /// database.
    Checkpoint {
        /// The file to write; standard output without it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// `dayops audit verify`: prints the result as JSON; an error (non-zero exit) on a break.
fn audit_verify(
    conn: &mut dayops_persistence::DbConnection,
    checkpoint: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use dayops_domain::audit::{Checkpoint, CheckpointMatch};
    let checkpoint: Option<Checkpoint> = checkpoint
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a checkpoint: {e}", path.display()))
        })
        .transpose()?;
    let check = dayops_persistence::audit::verify(conn).map_err(|e| e.to_string())?;
    let held = checkpoint
        .as_ref()
        .map(|c| dayops_persistence::audit::compare_checkpoint(conn, c))
        .transpose()
        .map_err(|e| e.to_string())?;
    let report = serde_json::json!({
        "verified": check.first_broken_seq.is_none() && held.is_none_or(|h| h == CheckpointMatch::Matches),
        "events": check.events,
        "head_seq": check.head_seq,
        "head_hash": check.head_hash,
        "first_broken_seq": check.first_broken_seq,
        "checkpoint": held,
    });
    println!("{report}");
    if let Some(seq) = check.first_broken_seq {
        return Err(format!("the audit chain is broken at seq {seq}"));
    }
    match (held, checkpoint) {
        (Some(CheckpointMatch::Missing), Some(c)) => Err(format!(
            "the audit chain no longer holds event {} of the checkpoint: events were removed",
            c.seq
        )),
        (Some(CheckpointMatch::Differs), Some(c)) => Err(format!(
            "event {} differs from the checkpoint: the chain was rewritten",
            c.seq
        )),
        _ => Ok(()),
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "expected provider, commissioner or auditor".to_string())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dayops: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Openapi => {
            let doc = dayops_http::openapi::document();
            let json = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
        Command::Token {
            role,
            sub,
            provider_id,
            ttl_hours,
        } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let Some(JwtKey::Secret(secret)) = &config.jwt_key else {
                return Err("dayops token signs with DAYOPS_JWT_SECRET; set it (with a public key, tokens come from your identity provider)".into());
            };
            if role == Role::Provider && provider_id.is_none() {
                return Err("--provider-id is required for --role provider".into());
            }
            let now = u64::try_from(chrono::Utc::now().timestamp()).map_err(|e| e.to_string())?;
            let claims = TokenClaims {
                sub,
                role,
                iss: config.jwt_issuer.clone(),
                aud: config.jwt_audience.clone(),
                iat: now,
                exp: now + ttl_hours * 3600,
                provider_id: if role == Role::Provider {
                    provider_id
                } else {
                    None
                },
            };
            println!("{}", mint(&claims, &secret.0).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Audit { action } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let pool = open_database(&config).map_err(|e| e.to_string())?;
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            match action {
                AuditCommand::Checkpoint { out } => {
                    let checkpoint = dayops_persistence::audit::checkpoint(&mut conn)
                        .map_err(|e| e.to_string())?;
                    let json =
                        serde_json::to_string_pretty(&checkpoint).map_err(|e| e.to_string())?;
                    match out {
                        Some(path) => std::fs::write(&path, json + "\n")
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                        None => println!("{json}"),
                    }
                    Ok(())
                }
                AuditCommand::Verify { checkpoint } => audit_verify(&mut conn, checkpoint),
            }
        }
        Command::Migrate => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            open_database(&config).map_err(|e| e.to_string())?;
            println!("database is up to date");
            Ok(())
        }
        Command::Demo => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let pool = open_database(&config).map_err(|e| e.to_string())?;
            load_demo(&pool)
        }
        Command::Serve { demo: with_demo } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            // Refuse to start without a verification key before touching the database.
            config.verification_key().map_err(|e| e.to_string())?;
            let pool = open_database(&config).map_err(|e| e.to_string())?;
            if with_demo {
                load_demo(&pool)?;
            }
            let listener = TcpListener::bind(&config.bind)
                .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
            log::info!(
                "dayops listening on http://{} ({})",
                config.bind,
                dayops_persistence::Backend::of_url(&config.database_url).name()
            );
            if let Some(warning) =
                dayops_domain::calendar::calendar_warning(chrono::Utc::now().date_naive())
            {
                log::warn!("{warning}");
            }
            let server = start(&config, pool, listener).map_err(|e| e.to_string())?;
            actix_web::rt::System::new()
                .block_on(server)
                .map_err(|e| e.to_string())
        }
    }
}

fn load_demo(pool: &dayops_persistence::Pool) -> Result<(), String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let summary = demo::load(&mut conn).map_err(|e| e.to_string())?;
    println!("{summary}");
    Ok(())
}
