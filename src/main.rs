//! The `mail_mcp` binary: parse the command line, start logging, run the command.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc: about a sixth less CPU per request than glibc's malloc here (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LOG_LEVEL").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match mail_mcp::cli::run(mail_mcp::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mail_mcp: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
