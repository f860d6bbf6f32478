//! `bin/bench`: the speed of mail_mcp beside the raw IMAP floor, in one run on this
//! machine. Starts the project's mail stack (`bin/mail-stack`), fills folders of 1,000 /
//! 10,000 / 100,000 realistic messages by writing Maildir files, starts the release server
//! (`target/release/mail_mcp server`), and measures through the real MCP endpoint:
//! latency of list / get / search warm and cold next to the same IMAP exchanges done
//! directly (the floor), throughput of `tools/list` and `list_mail_messages` with many
//! connections and many distinct tokens, the server's RSS (idle, 200 accounts, a 25 MB
//! message), the same list with connection reuse turned off, and SMTP sends cold and warm.
//!
//! Tokens are sealed with the server's key exactly as its token endpoint seals them (the
//! OAuth login would check the password live and so warm the pool, which would spoil the
//! cold numbers, and thousands of logins would trip the login rate limits).
//!
//! Not a test: nothing here asserts a time. Run it through `bin/bench` (see README).

mod fill;
mod floor;
mod http;
mod load_run;
mod stats;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mail_mcp::mail::imap::PoolSettings;
use mail_mcp::mail::{
    Endpoint, MailAccount, MailSettings, Security, ServerLogin, Smtp, TlsSettings,
};
use mail_mcp::token::{AccessClaims, Keyring, Purpose, TokenCodec};
use serde_json::json;

use floor::{Exchange, Open};
use stats::{Latency, ratio};

/// What to run; `--quick` shrinks everything for a trial run.
struct Settings {
    sizes: Vec<usize>,
    /// Samples per warm latency series.
    warm: usize,
    /// Samples per cold series (one fresh account each).
    cold: usize,
    /// Seconds per throughput run.
    seconds: u64,
    /// Accounts for the concurrent load.
    accounts: usize,
    /// Distinct tokens for `tools/list`.
    tokens: usize,
    /// Connections for `tools/list`.
    list_connections: usize,
    /// Size of the big attachment, bytes.
    big: usize,
    out: PathBuf,
    repo: PathBuf,
    /// Only the `tools/list` load, without a mail stack (for profiling the HTTP path).
    tools_list_only: bool,
    /// `--load`: the load run alone (see `load_run`), with these settings.
    load: Option<load_run::LoadSettings>,
}

impl Settings {
    fn from_args() -> Settings {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut s = Settings {
            sizes: vec![1_000, 10_000, 100_000],
            warm: 200,
            cold: 40,
            seconds: 10,
            accounts: 200,
            tokens: 10_000,
            list_connections: 50,
            big: 25 * 1024 * 1024,
            out: repo.join("target/bench/results.md"),
            repo,
            tools_list_only: false,
            load: None,
        };
        let (mut load, mut quick) = (false, false);
        let (mut clients, mut accounts, mut seconds) = (None, None, None);
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let value = || args.get(i + 1).cloned().unwrap_or_default();
            match args[i].as_str() {
                "--load" => load = true,
                "--clients" => {
                    clients = value().parse().ok();
                    i += 1;
                }
                "--accounts" => {
                    accounts = value().parse().ok();
                    i += 1;
                }
                "--quick" => {
                    quick = true;
                    s.sizes = vec![1_000, 10_000];
                    s.warm = 30;
                    s.cold = 5;
                    s.seconds = 2;
                    s.accounts = 20;
                    s.tokens = 1_000;
                    s.big = 2 * 1024 * 1024;
                }
                "--tools-list-only" => s.tools_list_only = true,
                "--sizes" => {
                    s.sizes = value().split(',').filter_map(|v| v.parse().ok()).collect();
                    i += 1;
                }
                "--big-mb" => {
                    s.big = value().parse::<usize>().unwrap_or(25) * 1024 * 1024;
                    i += 1;
                }
                "--warm" => {
                    s.warm = value().parse().unwrap_or(s.warm);
                    i += 1;
                }
                "--seconds" => {
                    s.seconds = value().parse().unwrap_or(s.seconds);
                    seconds = value().parse().ok();
                    i += 1;
                }
                "--out" => {
                    s.out = PathBuf::from(value());
                    i += 1;
                }
                other => {
                    eprintln!(
                        "bench: unknown argument {other} (use --quick, --sizes a,b,c, --big-mb n, --warm n, --seconds n, --out file, --tools-list-only, --load [--clients n --accounts n])"
                    );
                    std::process::exit(2);
                }
            }
            i += 1;
        }
        if load {
            let mut l = match quick {
                true => load_run::LoadSettings::quick(),
                false => load_run::LoadSettings::full(),
            };
            l.clients = clients.unwrap_or(l.clients);
            l.accounts = accounts.unwrap_or(l.accounts).max(1);
            l.seconds = seconds.unwrap_or(l.seconds);
            s.load = Some(l);
        }
        s
    }
}

/// The mail stack of `bin/mail-stack`.
struct Stack {
    dir: PathBuf,
    imaps_port: u16,
    submission_port: u16,
    ca_file: PathBuf,
    users_dir: PathBuf,
    repo: PathBuf,
}

impl Stack {
    fn start(repo: &Path) -> Stack {
        let script = repo.join("bin/mail-stack");
        let out = Command::new(&script)
            .args(["start", "--watch-pid", &std::process::id().to_string()])
            .output()
            .expect("bin/mail-stack runs");
        if !out.status.success() {
            panic!(
                "bin/mail-stack start failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env_file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let vars: HashMap<String, String> = std::fs::read_to_string(&env_file)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let port = |k: &str| vars[k].parse::<u16>().unwrap();
        Stack {
            dir: PathBuf::from(&vars["MAIL_STACK_DIR"]),
            imaps_port: port("IMAPS_PORT"),
            submission_port: port("SUBMISSION_PORT"),
            ca_file: PathBuf::from(&vars["CA_FILE"]),
            users_dir: PathBuf::from(&vars["USERS_DIR"]),
            repo: repo.to_owned(),
        }
    }

    /// Raises Dovecot's process and connection limits (default 100 processes) for
    /// hundreds of concurrent accounts, and reloads it.
    fn tune(&self) {
        let conf = self.dir.join("dovecot.conf");
        // Dovecot's high-performance login mode: a few long-lived imap-login processes
        // each serve (and proxy the TLS of) many connections, instead of one process per
        // connection, which on two cores spends most of the CPU switching between them.
        let extra = "\n# bin/bench: room for hundreds of concurrent accounts\n\
default_process_limit = 2000\ndefault_client_limit = 8000\n\
mail_max_userip_connections = 100\nservice anvil {\n  client_limit = 8000\n}\n\
service imap-login {\n  service_count = 0\n  process_min_avail = 2\n  vsz_limit = 1G\n}\n";
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(extra);
        std::fs::write(&conf, text).unwrap();
        let status = Command::new("doveadm")
            .arg("-c")
            .arg(&conf)
            .arg("reload")
            .status()
            .unwrap();
        assert!(status.success(), "doveadm reload failed");
        // The master re-reads its configuration asynchronously.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// A mailbox `local@example.test` whose home is `home` (shared homes share mail).
    fn add_user(&self, local: &str, password: &str, home: &Path) -> (String, String) {
        let email = format!("{local}@example.test");
        let line = format!("{email}:{{PLAIN}}{password}::::{}::\n", home.display());
        let tmp = self.users_dir.join(format!(".new.{email}"));
        std::fs::write(&tmp, line).unwrap();
        std::fs::rename(&tmp, self.users_dir.join(&email)).unwrap();
        (email, password.to_owned())
    }

    fn account(&self, user: &(String, String)) -> MailAccount {
        let login = |port, security| ServerLogin {
            endpoint: Endpoint::new("127.0.0.1", port, security),
            username: user.0.clone(),
            password: user.1.clone(),
        };
        MailAccount {
            email: user.0.clone(),
            display_name: None,
            identities: Vec::new(),
            imap: login(self.imaps_port, Security::Tls),
            smtp: login(self.submission_port, Security::Starttls),
        }
    }

    fn stop(&self) {
        let _ = Command::new(self.repo.join("bin/mail-stack"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// A running release server.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    async fn start(repo: &Path, stack: &Stack, key: &str, env: &[(&str, &str)]) -> Server {
        Self::start_in(repo, &stack.dir, Some(&stack.ca_file), key, env).await
    }

    async fn start_in(
        repo: &Path,
        dir: &Path,
        ca_file: Option<&Path>,
        key: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let data = dir.join(format!("server-data-{port}"));
        let log = std::fs::File::create(dir.join(format!("server-{port}.log"))).unwrap();
        let binary = std::env::var_os("BENCH_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/release/mail_mcp"));
        let mut command = Command::new(binary);
        command
            .arg("server")
            .env("LISTEN", &addr)
            .env("BASE_URL", format!("http://{addr}"))
            .env("ENCRYPTION_KEYS", key)
            .env("DATA_DIR", &data)
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(ca_file) = ca_file {
            command.env("MAIL_CA_FILE", ca_file);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("target/release/mail_mcp starts");
        let server = Server { child, addr };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut conn) = http::Conn::connect(&self.addr).await
                && let Ok(r) = conn.send(&http::get_request(&self.addr, "/health")).await
                && r.status == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, in MB.
fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

/// `perf record` of the server while something runs, when BENCH_PERF=1 and perf works:
/// `target/bench/perf-<name>.data`, for `perf report -i ...`.
struct Profiler(Option<Child>);

impl Profiler {
    fn start(s: &Settings, pid: u32, name: &str) -> Profiler {
        if std::env::var("BENCH_PERF").as_deref() != Ok("1") {
            return Profiler(None);
        }
        let dir = s.repo.join("target/bench");
        std::fs::create_dir_all(&dir).ok();
        let child = Command::new("perf")
            .args(["record", "-e", "cpu-clock", "-F", "999", "-g", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(dir.join(format!("perf-{name}.data")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        std::thread::sleep(Duration::from_millis(300));
        Profiler(child)
    }

    fn stop(self) {
        if let Some(mut child) = self.0 {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// Samples a process's RSS every 20 ms until stopped; the highest seen, in MB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    max_kb: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kb = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), max_kb.clone());
        let handle = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                m.fetch_max((rss_mb(pid) * 1024.0) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssSampler {
            stop,
            max_kb,
            handle,
        }
    }

    async fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.await;
        self.max_kb.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

struct Tokens {
    codec: TokenCodec,
}

impl Tokens {
    fn new(key: &str, base_url: &str) -> Tokens {
        Tokens {
            codec: TokenCodec::new(
                Keyring::parse(key).unwrap(),
                base_url.to_owned(),
                format!("{base_url}/mcp"),
            ),
        }
    }

    fn seal(&self, account: MailAccount) -> String {
        let claims = AccessClaims {
            client: "bench".into(),
            scope: "mail.read mail.send offline_access".into(),
            account,
            family: None,
            policy: mail_mcp::token::SendPolicy::SendFreely,
            upstream: None,
        };
        self.codec
            .seal(
                Purpose::Access,
                &claims,
                Some(Duration::from_secs(8 * 3600)),
            )
            .unwrap()
    }
}

/// `n` sequential calls on one keep-alive connection after one warm-up call.
async fn ours_warm(addr: &str, request: &[u8], n: usize) -> Vec<Duration> {
    let mut conn = http::Conn::connect(addr).await.unwrap();
    let first = conn.send(request).await.unwrap();
    assert!(first.ok(), "warm-up call failed: {}", first.text());
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        if samples.len() >= floor::MIN_SAMPLES && started.elapsed() > floor::SERIES_BUDGET {
            break;
        }
        let start = Instant::now();
        let response = conn.send(request).await.unwrap();
        samples.push(start.elapsed());
        assert!(response.ok(), "call failed: {}", response.text());
    }
    samples
}

/// One call of a fresh token of a fresh account, on a new connection.
async fn ours_cold(addr: &str, request: &[u8]) -> Duration {
    let start = Instant::now();
    let mut conn = http::Conn::connect(addr).await.unwrap();
    let response = conn.send(request).await.unwrap();
    let elapsed = start.elapsed();
    assert!(response.ok(), "cold call failed: {}", response.text());
    elapsed
}

/// Warm samples of ours and floor A taken in turn (one of each per round), so that the
/// machine's other load falls on both alike; then floor B's.
async fn interleaved_warm(
    addr: &str,
    request: &[u8],
    imap: (&TlsSettings, u16, (&str, &str)),
    folder: &str,
    exchange: Exchange,
    n: usize,
) -> (Latency, Vec<Latency>) {
    let (tls, port, user) = imap;
    let mut conn = http::Conn::connect(addr).await.unwrap();
    let first = conn.send(request).await.unwrap();
    assert!(first.ok(), "warm-up call failed: {}", first.text());
    let mut a = floor::Warm::new(tls, port, user, folder, exchange, Open::Noop)
        .await
        .unwrap();
    let mut b = floor::Warm::new(tls, port, user, folder, exchange, Open::Examine)
        .await
        .unwrap();
    let (mut ours, mut floor_a, mut floor_b) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..n {
        if ours.len() >= floor::MIN_SAMPLES && started.elapsed() > floor::SERIES_BUDGET * 2 {
            break;
        }
        let start = Instant::now();
        let response = conn.send(request).await.unwrap();
        ours.push(start.elapsed());
        assert!(response.ok(), "call failed: {}", response.text());
        floor_a.push(a.sample().await.unwrap());
    }
    // Floor B after, not in turn: its EXAMINE of a big folder disturbs Dovecot for the
    // next commands on that folder (index sync, caches) and would slow the other two.
    let started = Instant::now();
    for _ in 0..n {
        if floor_b.len() >= floor::MIN_SAMPLES && started.elapsed() > floor::SERIES_BUDGET {
            break;
        }
        floor_b.push(b.sample().await.unwrap());
    }
    a.close().await;
    b.close().await;
    (
        Latency::of(&ours),
        vec![Latency::of(&floor_a), Latency::of(&floor_b)],
    )
}

/// Requests per second with `connections` keep-alive connections for `seconds`;
/// connection `i` sends requests `i`, `i + connections`, ... in turn.
struct Load {
    per_second: f64,
    errors: u64,
    latency: Latency,
}

async fn load(addr: &str, requests: Arc<Vec<Vec<u8>>>, connections: usize, seconds: u64) -> Load {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (addr, requests) = (addr.to_owned(), requests.clone());
            tokio::spawn(async move {
                let mut conn = http::Conn::connect(&addr).await.unwrap();
                let mut samples = Vec::new();
                let mut errors = 0u64;
                let mut next = i;
                while Instant::now() < deadline {
                    let request = &requests[next % requests.len()];
                    next += connections;
                    let start = Instant::now();
                    match conn.send(request).await {
                        Ok(r) if r.ok() => samples.push(start.elapsed()),
                        _ => errors += 1,
                    }
                }
                (samples, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (samples, e) = task.await.unwrap();
        all.extend(samples);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Load {
        per_second: all.len() as f64 / elapsed,
        errors,
        latency: Latency::of(&all),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{cores} cores ({cpu}), {mem:.0} GiB RAM, Linux {}, Dovecot {}, {}; load average at start: {}",
        run("uname", &["-r"]),
        run("dovecot", &["--version"]),
        run("rustc", &["-V"]),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// `tools/list` load alone, against a server with no mail stack; prints the server's PID
/// first so that a profiler can attach (see BENCHMARKS.md).
async fn tools_list_only(s: &Settings) {
    let dir = std::env::temp_dir().join(format!("mail_mcp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Keyring::encode_key(&Keyring::generate_key());
    let server = Server::start_in(&s.repo, &dir, None, &key, &[]).await;
    let addr = server.addr.clone();
    let tokens = Tokens::new(&key, &format!("http://{addr}"));
    let requests: Vec<Vec<u8>> = (0..s.tokens)
        .map(|i| {
            let user = (format!("user{i}@example.test"), format!("pw{i}"));
            let account = MailAccount {
                email: user.0.clone(),
                display_name: None,
                identities: Vec::new(),
                imap: ServerLogin {
                    endpoint: Endpoint::new("127.0.0.1", 993, Security::Tls),
                    username: user.0,
                    password: user.1,
                },
                smtp: ServerLogin {
                    endpoint: Endpoint::new("127.0.0.1", 465, Security::Tls),
                    username: String::new(),
                    password: String::new(),
                },
            };
            http::mcp_request(&addr, &tokens.seal(account), &http::list_tools_body())
        })
        .collect();
    println!("server pid {}", server.pid());
    if let Ok(mut conn) = http::Conn::connect(&addr).await
        && let Ok(r) = conn.send(&requests[0]).await
    {
        println!("tools/list response: {} bytes", r.body.len());
    }
    let (server_before, client_before) =
        (cpu_seconds(server.pid()), cpu_seconds(std::process::id()));
    let result = load(&addr, Arc::new(requests), s.list_connections, s.seconds).await;
    let server_cpu = cpu_seconds(server.pid()) - server_before;
    let client_cpu = cpu_seconds(std::process::id()) - client_before;
    let requests = result.per_second * s.seconds as f64;
    println!(
        "tools/list: {:.0} requests/s, median {:.2} ms, p99 {:.2} ms, {} errors, {} distinct tokens; \
CPU per request: server {:.0} µs, load client {:.0} µs",
        result.per_second,
        result.latency.median_ms,
        result.latency.p99_ms,
        result.errors,
        s.tokens,
        server_cpu / requests * 1e6,
        client_cpu / requests * 1e6,
    );
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// A table row: ours, then each floor with the ratio of ours to it (median, p99).
fn row(name: &str, ours: Latency, floors: &[Latency]) -> String {
    let mut cells = vec![
        name.to_owned(),
        format!("{:.2} / {:.2}", ours.median_ms, ours.p99_ms),
    ];
    for floor in floors.iter().take(2) {
        cells.push(format!("{:.2} / {:.2}", floor.median_ms, floor.p99_ms));
        cells.push(format!(
            "{} / {}",
            ratio(ours.median_ms, floor.median_ms),
            ratio(ours.p99_ms, floor.p99_ms)
        ));
    }
    while cells.len() < 6 {
        cells.push(String::new());
    }
    format!("| {} |", cells.join(" | "))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let s = Settings::from_args();
    let mut report: Vec<String> = Vec::new();
    let mut say = |line: String| {
        println!("{line}");
        report.push(line);
    };
    let machine = machine();
    eprintln!("bench: {machine}");
    if s.tools_list_only {
        tools_list_only(&s).await;
        return;
    }
    if let Some(load) = &s.load {
        load_run::run(&s, load).await;
        return;
    }

    // The stack, with a shared home holding the big folders.
    let stack = Stack::start(&s.repo);
    stack.tune();
    let home = stack.dir.join("mail/bench-home");
    let fill_started = Instant::now();
    let newest = chrono::Utc::now().timestamp() - 3600;
    fill::fill_folder(&home, "INBOX", 100, 7, newest).unwrap();
    let mut folder_bytes = Vec::new();
    for &size in &s.sizes {
        let bytes =
            fill::fill_folder(&home, &format!("k{size}"), size, size as u64, newest).unwrap();
        folder_bytes.push((size, bytes));
    }
    let big_bytes = fill::big_message(&home, "big", s.big, newest).unwrap();
    let mut load_homes = Vec::new();
    for i in 0..s.accounts {
        let h = stack.dir.join(format!("mail/load-{i}"));
        fill::fill_folder(&h, "INBOX", 100, 1_000 + i as u64, newest).unwrap();
        load_homes.push(h);
    }
    let smtp_home = stack.dir.join("mail/smtp-home");
    fill::empty_inbox(&smtp_home).unwrap();
    fill::chown_tree(&stack.dir.join("mail")).unwrap();
    let fill_time = fill_started.elapsed();
    let total: usize = s.sizes.iter().sum::<usize>() + 100 + 100 * s.accounts;
    eprintln!("bench: wrote {total} messages in {fill_time:.1?}");

    let bench = stack.add_user("bench", "bench-pw", &home);
    let cold_users: Vec<_> = (0..s.cold * 4)
        .map(|i| stack.add_user(&format!("cold-{i}"), &format!("cold-pw-{i}"), &home))
        .collect();
    let floor_users: Vec<_> = (0..s.cold)
        .map(|i| stack.add_user(&format!("floor-{i}"), &format!("floor-pw-{i}"), &home))
        .collect();
    let load_users: Vec<_> = load_homes
        .iter()
        .enumerate()
        .map(|(i, h)| stack.add_user(&format!("load-{i}"), &format!("load-pw-{i}"), h))
        .collect();
    let smtp_user = stack.add_user("smtp", "smtp-pw", &smtp_home);

    let tls = TlsSettings::new(Some(&stack.ca_file)).unwrap();
    let port = stack.imaps_port;
    let get_uid = |size: usize| size as u32 - 5;

    // Dovecot builds its indexes on first open: do that before timing anything.
    let mut first_open = Vec::new();
    for &size in &s.sizes {
        let folder = format!("k{size}");
        let started = Instant::now();
        let mut session = floor::login(&tls, port, &bench.0, &bench.1).await.unwrap();
        for exchange in [
            Exchange::List,
            Exchange::Search,
            Exchange::Get(get_uid(size)),
        ] {
            floor::run(&mut session, &folder, exchange, Open::Examine, &mut 0)
                .await
                .unwrap();
        }
        session.logout().await.ok();
        first_open.push((size, started.elapsed()));
    }

    // The server, pool on (the defaults).
    let key = Keyring::encode_key(&Keyring::generate_key());
    let server = Server::start(&s.repo, &stack, &key, &[]).await;
    let addr = server.addr.clone();
    let tokens = Tokens::new(&key, &format!("http://{addr}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss_mb(server.pid());

    let bench_token = tokens.seal(stack.account(&bench));
    let list_args = |size: usize| json!({"folder": format!("k{size}"), "per_page": 20});
    let get_args = |size: usize| json!({"folder": format!("k{size}"), "uid": get_uid(size)});
    let search_args = |size: usize| json!({"folder": format!("k{size}"), "subject": "invoice"});
    let request = |token: &str, tool: &str, args: serde_json::Value| {
        http::mcp_request(&addr, token, &http::call_body(tool, args))
    };

    // Warm latency, ours and the floor, per folder size.
    let mut warm_rows = Vec::new();
    let mut warm = HashMap::new();
    for &size in &s.sizes {
        let folder = format!("k{size}");
        for (name, tool, args, exchange) in [
            (
                "list",
                "list_mail_messages",
                list_args(size),
                Exchange::List,
            ),
            (
                "get",
                "get_mail_message",
                get_args(size),
                Exchange::Get(get_uid(size)),
            ),
            (
                "search",
                "search_mail_messages",
                search_args(size),
                Exchange::Search,
            ),
        ] {
            let (ours, floors) = interleaved_warm(
                &addr,
                &request(&bench_token, tool, args),
                (&tls, port, (&bench.0, &bench.1)),
                &folder,
                exchange,
                s.warm,
            )
            .await;
            eprintln!(
                "bench: warm {name} {size}: {:.2} ms vs {:.2} ms (open) / {:.2} ms (examine)",
                ours.median_ms, floors[0].median_ms, floors[1].median_ms
            );
            warm.insert((name, size), (ours, floors[0], floors[1]));
            warm_rows.push(row(
                &format!("{name}, {size} messages, warm"),
                ours,
                &floors,
            ));
        }
    }

    // Server CPU per warm list call, and (with BENCH_PERF=1) a profile of them.
    let mid = *s
        .sizes
        .iter()
        .find(|&&n| n == 10_000)
        .unwrap_or(&s.sizes[0]);
    let list_request = request(&bench_token, "list_mail_messages", list_args(mid));
    let profiler = Profiler::start(&s, server.pid(), "warm-list");
    let cpu_before = cpu_seconds(server.pid());
    let calls = ours_warm(&addr, &list_request, s.warm * 5).await.len() + 1;
    let list_cpu_us = (cpu_seconds(server.pid()) - cpu_before) / calls as f64 * 1e6;
    profiler.stop();

    // Cold: a fresh account (nothing pooled) per call, against a fresh login each time.
    let mid = *s
        .sizes
        .iter()
        .find(|&&n| n == 10_000)
        .unwrap_or(&s.sizes[0]);
    let mut cold_rows = Vec::new();
    let mut cold = HashMap::new();
    let mut cold_pool = cold_users.chunks(s.cold);
    let largest = *s.sizes.iter().max().unwrap();
    let mut cold_cases = vec![(
        "list",
        mid,
        "list_mail_messages",
        list_args(mid),
        Exchange::List,
    )];
    if largest != mid {
        cold_cases.push((
            "list",
            largest,
            "list_mail_messages",
            list_args(largest),
            Exchange::List,
        ));
    }
    cold_cases.push((
        "get",
        mid,
        "get_mail_message",
        get_args(mid),
        Exchange::Get(get_uid(mid)),
    ));
    cold_cases.push((
        "search",
        mid,
        "search_mail_messages",
        search_args(mid),
        Exchange::Search,
    ));
    for (name, size, tool, args, exchange) in cold_cases {
        let users = cold_pool.next().unwrap();
        let requests: Vec<Vec<u8>> = users
            .iter()
            .map(|u| request(&tokens.seal(stack.account(u)), tool, args.clone()))
            .collect();
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        for (request, user) in requests.iter().zip(floor_users.iter().cycle()) {
            ours.push(ours_cold(&addr, request).await);
            floor.push(
                floor::cold(&tls, port, user, &format!("k{size}"), exchange)
                    .await
                    .unwrap(),
            );
        }
        let (ours, floor) = (Latency::of(&ours), Latency::of(&floor));
        eprintln!(
            "bench: cold {name} {size}: {:.2} ms vs {:.2} ms",
            ours.median_ms, floor.median_ms
        );
        cold.insert((name, size), (ours, floor));
        cold_rows.push(row(
            &format!("{name}, {size} messages, cold (first call of a new token)"),
            ours,
            &[floor],
        ));
    }

    // tools/list with many distinct tokens (of the load accounts).
    let per_account = s.tokens.div_ceil(s.accounts);
    let list_tokens: Vec<Vec<u8>> = (0..per_account)
        .flat_map(|_| load_users.iter())
        .take(s.tokens)
        .map(|u| {
            http::mcp_request(
                &addr,
                &tokens.seal(stack.account(u)),
                &http::list_tools_body(),
            )
        })
        .collect();
    let distinct = list_tokens.len();
    let tools_list_bytes = {
        let mut conn = http::Conn::connect(&addr).await.unwrap();
        conn.send(&list_tokens[0]).await.unwrap().body.len()
    };
    let profiler = Profiler::start(&s, server.pid(), "tools-list");
    let cpu_before = cpu_seconds(server.pid());
    let tools_list = load(&addr, Arc::new(list_tokens), s.list_connections, s.seconds).await;
    let tools_list_cpu_us =
        (cpu_seconds(server.pid()) - cpu_before) / (tools_list.per_second * s.seconds as f64) * 1e6;
    profiler.stop();
    eprintln!("bench: tools/list {:.0}/s", tools_list.per_second);

    // The same tokens with `ping`: the HTTP + token + MCP path without the 51 KB answer.
    let sealed: Vec<String> = (0..per_account)
        .flat_map(|_| load_users.iter())
        .take(s.tokens)
        .map(|u| tokens.seal(stack.account(u)))
        .collect();
    let ping_requests: Vec<Vec<u8>> = sealed
        .iter()
        .map(|t| http::mcp_request(&addr, t, &http::ping_body()))
        .collect();
    let cpu_before = cpu_seconds(server.pid());
    let ping = load(
        &addr,
        Arc::new(ping_requests),
        s.list_connections,
        s.seconds,
    )
    .await;
    let ping_cpu_us =
        (cpu_seconds(server.pid()) - cpu_before) / (ping.per_second * s.seconds as f64) * 1e6;
    eprintln!("bench: ping {:.0}/s", ping.per_second);
    let opened = Instant::now();
    for token in &sealed {
        let _: AccessClaims = tokens.codec.open(Purpose::Access, token).unwrap();
    }
    let open_us = opened.elapsed().as_secs_f64() * 1e6 / sealed.len() as f64;
    let token_len = sealed.first().map_or(0, String::len);

    // list_mail_messages with every load account at once (one connection each), after a
    // first round that logs them all in.
    let account_requests: Vec<Vec<u8>> = (0..5)
        .flat_map(|_| load_users.iter())
        .map(|u| {
            request(
                &tokens.seal(stack.account(u)),
                "list_mail_messages",
                json!({}),
            )
        })
        .collect();
    let account_requests = Arc::new(account_requests);
    let warmup = load(&addr, account_requests.clone(), s.accounts, 1).await;
    let sampler = RssSampler::start(server.pid());
    let listing = load(&addr, account_requests, s.accounts, s.seconds).await;
    let rss_load = sampler.finish().await;
    eprintln!(
        "bench: list x{} accounts {:.0}/s ({} warm-up errors)",
        s.accounts, listing.per_second, warmup.errors
    );

    // The big message: its text alone, then its 25 MB attachment read and uploaded to the
    // (local) attachment store by get_mail_attachment, then the message with URLs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before_big = rss_mb(server.pid());
    let text_only = request(
        &bench_token,
        "get_mail_message",
        json!({"folder": "big", "uid": 1, "attachment_urls": false}),
    );
    let sampler = RssSampler::start(server.pid());
    let big_text_latency = Latency::of(&ours_warm(&addr, &text_only, 3).await);
    let rss_big_text = sampler.finish().await;
    let attachment = request(
        &bench_token,
        "get_mail_attachment",
        json!({"folder": "big", "uid": 1, "part": "2"}),
    );
    let sampler = RssSampler::start(server.pid());
    let started = Instant::now();
    let mut conn = http::Conn::connect(&addr).await.unwrap();
    let uploaded = conn.send(&attachment).await.unwrap();
    let upload_time = started.elapsed();
    let rss_upload = sampler.finish().await;
    assert!(
        uploaded.ok(),
        "get_mail_attachment failed: {}",
        uploaded.text()
    );
    let with_urls = request(
        &bench_token,
        "get_mail_message",
        json!({"folder": "big", "uid": 1}),
    );
    let big_latency = Latency::of(&ours_warm(&addr, &with_urls, 3).await);
    server.stop();

    // The same list with reuse off: every call logs in, as before the pool.
    let no_pool = Server::start(&s.repo, &stack, &key, &[("IMAP_POOL_IDLE", "0s")]).await;
    let no_pool_token =
        Tokens::new(&key, &format!("http://{}", no_pool.addr)).seal(stack.account(&bench));
    let no_pool_list = Latency::of(
        &ours_warm(
            &no_pool.addr,
            &http::mcp_request(
                &no_pool.addr,
                &no_pool_token,
                &http::call_body("list_mail_messages", list_args(mid)),
            ),
            s.warm.min(100),
        )
        .await,
    );
    no_pool.stop();

    // SMTP: sends with a new connection each vs a reused one.
    let settings = MailSettings::new(tls.clone());
    let smtp_account = stack.account(&smtp_user);
    let envelope = lettre::address::Envelope::new(
        Some(smtp_user.0.parse().unwrap()),
        vec![smtp_user.0.parse().unwrap()],
    )
    .unwrap();
    let mail = format!(
        "From: {0}\r\nTo: {0}\r\nSubject: bench\r\n\r\nhello\r\n",
        smtp_user.0
    );
    let mut smtp_series = Vec::new();
    for reuse in [false, true] {
        let pool = PoolSettings {
            idle: if reuse {
                Duration::from_secs(60)
            } else {
                Duration::ZERO
            },
            ..PoolSettings::default()
        };
        let smtp = Smtp::with_pool(settings.clone(), pool);
        smtp.send(&smtp_account.smtp, &envelope, mail.as_bytes())
            .await
            .unwrap();
        let mut samples = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            smtp.send(&smtp_account.smtp, &envelope, mail.as_bytes())
                .await
                .unwrap();
            samples.push(start.elapsed());
        }
        smtp.shutdown().await;
        smtp_series.push(Latency::of(&samples));
    }
    let smtp = Smtp::new(settings.clone());
    let mut samples = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        smtp.check_login(&smtp_account.smtp).await.unwrap();
        samples.push(start.elapsed());
    }
    let smtp_login = Latency::of(&samples);
    stack.stop();

    // The report.
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    say(format!(
        "Machine: {machine}; at the end: {}.",
        load_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    say(String::new());
    let sizes: Vec<String> = folder_bytes
        .iter()
        .map(|(n, b)| format!("{n} ({:.0} MB)", *b as f64 / 1e6))
        .collect();
    say(format!(
        "Mail: folders of {} messages plus {} accounts of 100, {total} messages written as Maildir files in {:.1} s; \
a {:.0} MB message with a {} MB attachment. First open of each folder by Dovecot (index build, untimed below): {}.",
        sizes.join(", "),
        s.accounts,
        fill_time.as_secs_f64(),
        big_bytes as f64 / 1e6,
        s.big / (1024 * 1024),
        first_open
            .iter()
            .map(|(n, t)| format!("{n}: {:.1} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    say(String::new());
    say("### Latency (ms), mail_mcp through POST /mcp vs the same IMAP exchange direct".into());
    say(String::new());
    say("Each cell is median / p99 in ms. Floor A: the same IMAP commands on a session that has the \
folder open (NOOP, then the commands: exactly what a warm mail_mcp session sends); in cold rows, TCP + TLS + \
greeting + LOGIN + EXAMINE + the commands, as mail_mcp does for a new token. Floor B: EXAMINE, then the commands, \
on a logged-in session (a client that keeps a connection but no folder state)."
        .into());
    say(String::new());
    say("| call | mail_mcp | floor A | ours / A | floor B | ours / B |".into());
    say("|---|---|---|---|---|---|".into());
    for line in warm_rows.iter().chain(cold_rows.iter()) {
        say(line.clone());
    }
    say(row(
        &format!("list, {mid} messages, reuse off (IMAP_POOL_IDLE=0)"),
        no_pool_list,
        &[],
    ));
    let big_mb = big_bytes / 1_000_000;
    say(row(
        &format!("get of the {big_mb} MB message, attachment_urls=false (text only is fetched)"),
        big_text_latency,
        &[],
    ));
    say(row(
        &format!("get of the {big_mb} MB message with its attachment URL (already uploaded)"),
        big_latency,
        &[],
    ));
    say(format!(
        "| get_mail_attachment of its {} MB attachment (fetch, decode, upload to the local store) | {:.2} | | | | |",
        s.big / (1024 * 1024),
        upload_time.as_secs_f64() * 1e3
    ));
    say(String::new());
    say(format!(
        "Samples: up to {} per warm series (a series stops after {} s once it has {}), {} per cold series \
(each a new account; p99 of {} is their maximum).",
        s.warm,
        floor::SERIES_BUDGET.as_secs(),
        floor::MIN_SAMPLES,
        s.cold,
        s.cold
    ));
    say(String::new());
    say("### Throughput".into());
    say(String::new());
    say("| load | requests/s | median ms | p99 ms | errors |".into());
    say("|---|---|---|---|---|".into());
    say(format!(
        "| tools/list, {} connections, {distinct} distinct tokens | {:.0} | {:.2} | {:.2} | {} |",
        s.list_connections,
        tools_list.per_second,
        tools_list.latency.median_ms,
        tools_list.latency.p99_ms,
        tools_list.errors
    ));
    say(format!(
        "| list_mail_messages (INBOX, 20), {} accounts at once, 5 tokens each | {:.0} | {:.2} | {:.2} | {} |",
        s.accounts,
        listing.per_second,
        listing.latency.median_ms,
        listing.latency.p99_ms,
        listing.errors
    ));
    say(format!(
        "| ping, {} connections, the same {distinct} tokens | {:.0} | {:.2} | {:.2} | {} |",
        s.list_connections,
        ping.per_second,
        ping.latency.median_ms,
        ping.latency.p99_ms,
        ping.errors
    ));
    say(String::new());
    say(format!(
        "The load client runs on the same 2 cores. `tools/list` answers {tools_list_bytes} bytes (every tool with its input \
and output schema). Opening one access token ({token_len} bytes, JWE dir + A256GCM) takes {open_us:.1} µs in this process. \
Server CPU per request: tools/list {tools_list_cpu_us:.0} µs, ping {ping_cpu_us:.0} µs, a warm list_mail_messages of 20 \
from {mid} {list_cpu_us:.0} µs."
    ));
    say(String::new());
    say("### Memory (RSS of the server process)".into());
    say(String::new());
    say("| state | RSS MB |".into());
    say("|---|---|".into());
    say(format!("| idle, after start | {rss_idle:.1} |"));
    say(format!(
        "| {} accounts listing at once (peak) | {rss_load:.1} |",
        s.accounts
    ));
    say(format!(
        "| before reading the big message | {rss_before_big:.1} |"
    ));
    say(format!(
        "| reading the {big_mb} MB message's text (peak) | {rss_big_text:.1} (+{:.1}) |",
        rss_big_text - rss_before_big
    ));
    say(format!(
        "| reading and uploading its {} MB attachment (peak) | {rss_upload:.1} (+{:.1}) |",
        s.big / (1024 * 1024),
        rss_upload - rss_before_big
    ));
    say(String::new());
    say("### SMTP send (ms)".into());
    say(String::new());
    say("| connection | median | p99 |".into());
    say("|---|---|---|".into());
    say(format!(
        "| new for each send | {:.2} | {:.2} |",
        smtp_series[0].median_ms, smtp_series[0].p99_ms
    ));
    say(format!(
        "| login alone (connect, EHLO, STARTTLS, AUTH, QUIT) | {:.2} | {:.2} |",
        smtp_login.median_ms, smtp_login.p99_ms
    ));
    say(format!(
        "| reused (kept per account, NOOP-checked) | {:.2} | {:.2} |",
        smtp_series[1].median_ms, smtp_series[1].p99_ms
    ));
    say(String::new());
    say("### Targets".into());
    say(String::new());
    let (list_warm, floor_a, floor_b) = warm[&("list", mid)];
    let (r_a, r_b) = (
        list_warm.median_ms / floor_a.median_ms,
        list_warm.median_ms / floor_b.median_ms,
    );
    say(format!(
        "- warm list of 20 from {mid} over IMAPS ≤ 1.5x the direct warm exchange: {r_b:.2}x floor B \
(EXAMINE + FETCH on a logged-in connection), {}; {r_a:.2}x floor A (the identical NOOP + FETCH on an open \
folder), {}",
        verdict(r_b <= 1.5),
        verdict(r_a <= 1.5)
    ));
    let (c_ours, c_floor) = cold[&("list", mid)];
    let r_cold = c_ours.median_ms / c_floor.median_ms;
    say(format!(
        "- first call of a fresh token ≤ 1.2x the direct cold exchange: {r_cold:.2}x, {}",
        verdict(r_cold <= 1.2)
    ));
    if let Some(&largest) = s.sizes.iter().max() {
        let (l_ours, l_a, l_b) = warm[&("list", largest)];
        let smallest = *s.sizes.iter().min().unwrap();
        let (small_ours, _, _) = warm[&("list", smallest)];
        let (r_a, r_b) = (
            l_ours.median_ms / l_a.median_ms,
            l_ours.median_ms / l_b.median_ms,
        );
        say(format!(
            "- {largest} messages answer within 1.5x the warm floor: {r_b:.2}x floor B, {}; {r_a:.2}x floor A, {} \
({:.2} ms; {:.2}x the {smallest}-message folder)",
            verdict(r_b <= 1.5),
            verdict(r_a <= 1.5),
            l_ours.median_ms,
            l_ours.median_ms / small_ours.median_ms
        ));
    }
    say(format!(
        "- tools/list with {distinct} distinct tokens ≥ 20,000 requests/s: {:.0}/s, {}",
        tools_list.per_second,
        verdict(tools_list.per_second >= 20_000.0)
    ));
    say(format!(
        "- idle RSS ≤ 20 MB: {rss_idle:.1} MB, {}",
        verdict(rss_idle <= 20.0)
    ));
    say(format!(
        "- {} concurrent accounts ≤ 150 MB: {rss_load:.1} MB, {}",
        s.accounts,
        verdict(rss_load <= 150.0)
    ));
    let added = rss_upload - rss_before_big;
    let allowed = 2.0 * s.big as f64 / (1024.0 * 1024.0);
    say(format!(
        "- a {} MB attachment adds ≤ 2x its size: +{added:.1} MB while get_mail_attachment reads and uploads it, {}",
        s.big / (1024 * 1024),
        verdict(added <= allowed)
    ));

    if let Some(dir) = s.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&s.out, report.join("\n") + "\n").unwrap();
    eprintln!("bench: results written to {}", s.out.display());
}
