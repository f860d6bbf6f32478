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

use floor::Exchange;
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
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let value = || args.get(i + 1).cloned().unwrap_or_default();
            match args[i].as_str() {
                "--quick" => {
                    s.sizes = vec![1_000, 10_000];
                    s.warm = 30;
                    s.cold = 5;
                    s.seconds = 2;
                    s.accounts = 20;
                    s.tokens = 1_000;
                    s.big = 2 * 1024 * 1024;
                }
                "--sizes" => {
                    s.sizes = value().split(',').filter_map(|v| v.parse().ok()).collect();
                    i += 1;
                }
                "--seconds" => {
                    s.seconds = value().parse().unwrap_or(s.seconds);
                    i += 1;
                }
                "--out" => {
                    s.out = PathBuf::from(value());
                    i += 1;
                }
                other => {
                    eprintln!(
                        "bench: unknown argument {other} (use --quick, --sizes a,b,c, --seconds n, --out file)"
                    );
                    std::process::exit(2);
                }
            }
            i += 1;
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
        let extra = "\n# bin/bench: room for hundreds of concurrent accounts\n\
default_process_limit = 2000\ndefault_client_limit = 8000\n\
mail_max_userip_connections = 100\nservice anvil {\n  client_limit = 8000\n}\n";
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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let data = stack.dir.join(format!("server-data-{port}"));
        let log = std::fs::File::create(stack.dir.join(format!("server-{port}.log"))).unwrap();
        let binary = std::env::var_os("BENCH_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/release/mail_mcp"));
        let mut command = Command::new(binary);
        command
            .arg("server")
            .env("LISTEN", &addr)
            .env("BASE_URL", format!("http://{addr}"))
            .env("ENCRYPTION_KEYS", key)
            .env("MAIL_CA_FILE", &stack.ca_file)
            .env("DATA_DIR", &data)
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(log);
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
    for _ in 0..n {
        let start = Instant::now();
        let response = conn.send(request).await.unwrap();
        samples.push(start.elapsed());
        assert!(response.ok(), "call failed: {}", response.text());
    }
    samples
}

/// One call per request, each a fresh token of a fresh account on a new connection.
async fn ours_cold(addr: &str, requests: &[Vec<u8>]) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(requests.len());
    for request in requests {
        let start = Instant::now();
        let mut conn = http::Conn::connect(addr).await.unwrap();
        let response = conn.send(request).await.unwrap();
        samples.push(start.elapsed());
        assert!(response.ok(), "cold call failed: {}", response.text());
    }
    samples
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

fn row(name: &str, ours: Latency, floor: Option<Latency>) -> String {
    match floor {
        Some(f) => format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            ours.median_ms,
            ours.p99_ms,
            f.median_ms,
            f.p99_ms,
            ratio(ours.median_ms, f.median_ms),
            ratio(ours.p99_ms, f.p99_ms)
        ),
        None => format!(
            "| {name} | {:.2} | {:.2} | | | | |",
            ours.median_ms, ours.p99_ms
        ),
    }
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
            floor::run(&mut session, &folder, exchange).await.unwrap();
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
            let ours =
                Latency::of(&ours_warm(&addr, &request(&bench_token, tool, args), s.warm).await);
            let floor = Latency::of(
                &floor::warm(&tls, port, (&bench.0, &bench.1), &folder, exchange, s.warm)
                    .await
                    .unwrap(),
            );
            eprintln!(
                "bench: warm {name} {size}: {:.2} ms vs {:.2} ms",
                ours.median_ms, floor.median_ms
            );
            warm.insert((name, size), (ours, floor));
            warm_rows.push(row(
                &format!("{name}, {size} messages, warm"),
                ours,
                Some(floor),
            ));
        }
    }

    // Cold: a fresh account (nothing pooled) per call, against a fresh login each time.
    let mid = *s
        .sizes
        .iter()
        .find(|&&n| n == 10_000)
        .unwrap_or(&s.sizes[0]);
    let mut cold_rows = Vec::new();
    let mut cold = HashMap::new();
    let mut cold_pool = cold_users.chunks(s.cold);
    for (name, tool, args, exchange) in [
        ("list", "list_mail_messages", list_args(mid), Exchange::List),
        (
            "get",
            "get_mail_message",
            get_args(mid),
            Exchange::Get(get_uid(mid)),
        ),
        (
            "search",
            "search_mail_messages",
            search_args(mid),
            Exchange::Search,
        ),
    ] {
        let users = cold_pool.next().unwrap();
        let requests: Vec<Vec<u8>> = users
            .iter()
            .map(|u| request(&tokens.seal(stack.account(u)), tool, args.clone()))
            .collect();
        let ours = Latency::of(&ours_cold(&addr, &requests).await);
        let floor = Latency::of(
            &floor::cold(&tls, port, &floor_users, &format!("k{mid}"), exchange)
                .await
                .unwrap(),
        );
        eprintln!(
            "bench: cold {name}: {:.2} ms vs {:.2} ms",
            ours.median_ms, floor.median_ms
        );
        cold.insert(name, (ours, floor));
        cold_rows.push(row(
            &format!("{name}, {mid} messages, cold (first call of a new token)"),
            ours,
            Some(floor),
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
    let tools_list = load(&addr, Arc::new(list_tokens), s.list_connections, s.seconds).await;
    eprintln!("bench: tools/list {:.0}/s", tools_list.per_second);

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

    // The big message.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before_big = rss_mb(server.pid());
    let sampler = RssSampler::start(server.pid());
    let big_request = request(
        &bench_token,
        "get_mail_message",
        json!({"folder": "big", "uid": 1}),
    );
    let big_latency = Latency::of(&ours_warm(&addr, &big_request, 3).await);
    let rss_big = sampler.finish().await;
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
    say(
        "| call | ours median | ours p99 | floor median | floor p99 | ratio median | ratio p99 |"
            .into(),
    );
    say("|---|---|---|---|---|---|---|".into());
    for line in warm_rows.iter().chain(cold_rows.iter()) {
        say(line.clone());
    }
    say(row(
        &format!("list, {mid} messages, reuse off (IMAP_POOL_IDLE=0)"),
        no_pool_list,
        None,
    ));
    say(row(
        &format!(
            "get of the {} MB message (text only is fetched)",
            big_bytes / 1_000_000
        ),
        big_latency,
        None,
    ));
    say(String::new());
    say(format!(
        "Samples: {} per warm series, {} per cold series (p99 of {} is their maximum).",
        s.warm, s.cold, s.cold
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
        "| reading the {} MB message (peak) | {rss_big:.1} (+{:.1}) |",
        big_bytes / 1_000_000,
        rss_big - rss_before_big
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
        "| reused (lettre pool per account) | {:.2} | {:.2} |",
        smtp_series[1].median_ms, smtp_series[1].p99_ms
    ));
    say(String::new());
    say("### Targets".into());
    say(String::new());
    let (list_warm, list_floor) = warm[&("list", mid)];
    let r_warm = list_warm.median_ms / list_floor.median_ms;
    say(format!(
        "- warm list of 20 from {mid} over IMAPS ≤ 1.5x the direct warm exchange: {r_warm:.2}x, {}",
        verdict(r_warm <= 1.5)
    ));
    let (c_ours, c_floor) = cold["list"];
    let r_cold = c_ours.median_ms / c_floor.median_ms;
    say(format!(
        "- first call of a fresh token ≤ 1.2x the direct cold exchange: {r_cold:.2}x, {}",
        verdict(r_cold <= 1.2)
    ));
    if let Some(&largest) = s.sizes.iter().max() {
        let (l_ours, l_floor) = warm[&("list", largest)];
        let smallest = *s.sizes.iter().min().unwrap();
        let (small_ours, _) = warm[&("list", smallest)];
        let r = l_ours.median_ms / l_floor.median_ms;
        say(format!(
            "- {largest} messages answer within 1.5x the warm floor: {r:.2}x, {} ({:.2} ms; {:.2}x the {smallest}-message folder)",
            verdict(r <= 1.5),
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
    let added = rss_big - rss_before_big;
    let allowed = 2.0 * s.big as f64 / (1024.0 * 1024.0);
    say(format!(
        "- a {} MB attachment adds ≤ 2x its size: +{added:.1} MB while reading its message (get_mail_message; no attachment download tool yet), {}",
        s.big / (1024 * 1024),
        verdict(added <= allowed)
    ));

    if let Some(dir) = s.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&s.out, report.join("\n") + "\n").unwrap();
    eprintln!("bench: results written to {}", s.out.display());
}
