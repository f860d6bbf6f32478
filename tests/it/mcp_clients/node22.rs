//! The clients that need Node 22 (MCP Inspector's CLI, mcp-remote) and the Node 22 that
//! runs them, all from `tests/mcp_clients/node22/node_modules` (installed by
//! `bin/install-deps`; the npm package `node` ships the binary): their paths, and a run of
//! one program bounded in time, in a home directory of its own (nothing they store
//! outlives the test), killed if the test drops it.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// The most one client run may take; they finish in seconds.
pub const LIMIT: Duration = Duration::from_secs(120);

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_clients/node22/node_modules")
}

/// A file of `node22/node_modules`; panics with the fix when it is missing.
pub fn installed(relative: &str) -> PathBuf {
    let path = modules().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run bin/install-deps (it installs Node 22 and the clients)",
        path.display()
    );
    path
}

/// Node 22's binary.
pub fn node() -> PathBuf {
    installed("node/bin/node")
}

/// MCP Inspector's launcher (`mcp-inspector`; `--cli` runs its CLI).
pub fn inspector() -> PathBuf {
    installed("@modelcontextprotocol/inspector/clients/launcher/build/index.js")
}

/// mcp-remote's stdio proxy (`mcp-remote`).
pub fn mcp_remote() -> PathBuf {
    installed("mcp-remote/dist/proxy.js")
}

/// A directory the test owns for a client's home and files; removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("mail_mcp-client-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `program` (with Node 22 first on PATH, `home` as HOME) with `args` and `env` and
/// no stdin, within [`LIMIT`]; panics naming the program when it does not finish.
pub async fn run(program: &Path, args: &[String], env: &[(&str, &str)], home: &Scratch) -> Output {
    let node_dir = node().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        node_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&home.0)
        .env("PATH", path)
        .env("HOME", &home.0)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    match tokio::time::timeout(LIMIT, child.wait_with_output()).await {
        Ok(output) => output.unwrap(),
        Err(_) => panic!("{} {args:?} did not finish in {LIMIT:?}", program.display()),
    }
}

/// What a run printed, for failure messages (tokens are never in it: they are sent in
/// headers, which the clients do not print).
pub fn printed(output: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
