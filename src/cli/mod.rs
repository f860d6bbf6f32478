//! The command line: `server`, `generate`, `token` and `keygen`. Each subcommand parses its own
//! settings (flags and environment variables share names) and calls into the library.

mod generate;
mod provider_sign_in;
mod token;

use clap::{Parser, Subcommand};

use crate::config::{Config, ServerArgs};
use crate::token::Keyring;

pub use generate::GenerateArgs;
pub use token::TokenArgs;

/// mail_mcp: a hosted mail server for the Model Context Protocol.
#[derive(Parser)]
#[command(name = "mail_mcp", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve OAuth, the MCP endpoint and attachment links.
    Server(Box<ServerArgs>),
    /// Provision a client: prints a client_id (JWE) and secret bound to mail servers.
    Generate(Box<GenerateArgs>),
    /// Print an access token for clients that take a static Bearer header (checks the login).
    Token(Box<TokenArgs>),
    /// Print a fresh base64 32-byte key for ENCRYPTION_KEYS.
    Keygen,
}

/// Runs the chosen subcommand; errors are one line for the terminal.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Server(args) => serve(*args).await,
        Command::Generate(args) => generate::run(*args),
        Command::Token(args) => token::run(*args).await,
        Command::Keygen => {
            println!("{}", Keyring::encode_key(&Keyring::generate_key()));
            Ok(())
        }
    }
}

async fn serve(args: ServerArgs) -> Result<(), String> {
    let config = Config::from_args(args).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        on_signal.cancel();
    });
    crate::app::run(listener, config, shutdown)
        .await
        .map_err(|e| e.to_string())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
