//! `dayops`: serve, migrate, token, demo, openapi.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dayops_domain::types::Role;
use dayops_http::auth::{mint, TokenClaims};
use dayops_server::config::JwtKey;
use dayops_server::{demo, logcli, open_database, start, Config};

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
    /// Verify the audit log, or sign a checkpoint of it to keep elsewhere.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// The audit log's keys, and checking its receipts offline.
    Log {
        #[command(subcommand)]
        action: LogCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the log from its first event (leaves, chain, subtrees, signed checkpoints);
    /// exits non-zero naming the first thing that does not hold.
    Verify {
        /// A signed checkpoint kept outside the database (`dayops audit checkpoint`): the
        /// log must still give its head at its size.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Sequence what is pending and sign a checkpoint of the log; writes its signed note.
    Checkpoint {
        /// The file to write; standard output without it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Make a new Ed25519 signing key for the log; prints its public (verifier) key.
    Keygen {
        /// Names the deployment: the checkpoints' origin line, e.g. council.example/dayops.
        #[arg(long)]
        origin: String,
        /// The key file to make (never overwritten); give it to every serve process as
        /// DAYOPS_LOG_SIGNING_KEY.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print the public key of DAYOPS_LOG_SIGNING_KEY.
    PublicKey,
    /// Check a receipt offline: a signed checkpoint, an event's inclusion proof, and
    /// optionally a consistency proof from an older checkpoint. Needs no database.
    VerifyReceipt {
        /// The log's public key, or a file holding it.
        #[arg(long)]
        key: String,
        /// The signed checkpoint (its note, as `GET /v1/audit/checkpoint` gives it).
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        /// The inclusion proof (`GET /v1/audit-events/{seq}/proof`, saved as JSON).
        #[arg(long)]
        proof: std::path::PathBuf,
        /// An older signed checkpoint, to prove the newer extends it.
        #[arg(long, requires = "consistency")]
        old_checkpoint: Option<std::path::PathBuf>,
        /// The consistency proof between them (`GET /v1/audit/consistency`, as JSON).
        #[arg(long, requires = "old_checkpoint")]
        consistency: Option<std::path::PathBuf>,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "expected provider, commissioner or auditor".to_string())
}

fn main() -> ExitCode {
    dayops_server::allocators::tune();
    dayops_server::init_logging();
    dayops_server::sqlite::configure();
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
            let signer = config.log_signer().map_err(|e| e.to_string())?;
            let pool = open_database(&config).map_err(|e| e.to_string())?;
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            match action {
                AuditCommand::Checkpoint { out } => {
                    logcli::audit_checkpoint(&mut conn, &signer, out)
                }
                AuditCommand::Verify { checkpoint } => {
                    logcli::audit_verify(&mut conn, &signer.verifier(), checkpoint)
                }
            }
        }
        Command::Log { action } => match action {
            LogCommand::Keygen { origin, out } => logcli::keygen(&origin, &out),
            LogCommand::PublicKey => {
                let config = Config::from_env().map_err(|e| e.to_string())?;
                let signer = config.log_signer().map_err(|e| e.to_string())?;
                println!("{}", signer.verifier().encode());
                Ok(())
            }
            LogCommand::VerifyReceipt {
                key,
                checkpoint,
                proof,
                old_checkpoint,
                consistency,
            } => logcli::verify_receipt(
                &logcli::verifier_key(&key)?,
                &checkpoint,
                &proof,
                old_checkpoint.zip(consistency),
            ),
        },
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
