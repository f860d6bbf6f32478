//! The `mail_mcp` binary: parse the command line, start logging, run the command.

use clap::Parser;

/// mimalloc: about a sixth less CPU per request than glibc's malloc here (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let format = match mail_mcp::logging::LogFormat::from_env() {
        Ok(format) => format,
        Err(message) => {
            eprintln!("mail_mcp: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    mail_mcp::logging::init(mail_mcp::logging::level_filter(), format);
    match mail_mcp::cli::run(mail_mcp::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mail_mcp: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
