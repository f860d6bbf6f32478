//! `bin/bench --load`: the bounded load run. Many concurrent MCP clients (each its own
//! keep-alive connection), each bound to one of the accounts, loop a weighted mix of
//! `list_mail_messages`, `get_mail_message`, `search_mail_messages` and a small share of
//! `send_mail_message` (through the stack's Postfix to the other load accounts) for a
//! fixed time. Reports total and per-tool throughput, median and p99 per tool, errors by
//! kind (each with its first message), and the server's RSS and open file descriptors
//! (from /proc) before, at the peak during, and after the clients stop and the warm
//! connections idle out (IMAP_POOL_IDLE is short for this run).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::stats::Latency;
use super::{Server, Settings, Stack, Tokens, fill, http, rss_mb};

/// The shape of one load run.
pub struct LoadSettings {
    pub clients: usize,
    pub accounts: usize,
    pub seconds: u64,
    /// More rounds of the same clients against the same process after "after", each this
    /// long: their own "after"s show whether anything grows from one round to the next.
    pub second_round: u64,
    pub more_rounds: usize,
    /// IMAP_POOL_IDLE of the server for this run, so that "after" comes soon.
    pub pool_idle: Duration,
}

impl LoadSettings {
    pub fn full() -> LoadSettings {
        LoadSettings {
            clients: 500,
            accounts: 200,
            seconds: 60,
            second_round: 20,
            more_rounds: 3,
            pool_idle: Duration::from_secs(10),
        }
    }

    pub fn quick() -> LoadSettings {
        LoadSettings {
            clients: 50,
            accounts: 20,
            seconds: 10,
            second_round: 5,
            more_rounds: 1,
            pool_idle: Duration::from_secs(5),
        }
    }
}

/// The mix, in parts per hundred calls.
const MIX: [(Tool, u32); 4] = [
    (Tool::List, 40),
    (Tool::Get, 30),
    (Tool::Search, 25),
    (Tool::Send, 5),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tool {
    List,
    Get,
    Search,
    Send,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::List => "list_mail_messages",
            Tool::Get => "get_mail_message",
            Tool::Search => "search_mail_messages",
            Tool::Send => "send_mail_message",
        }
    }

    fn pick(roll: u32) -> Tool {
        let mut left = roll % 100;
        for (tool, share) in MIX {
            if left < share {
                return tool;
            }
            left -= share;
        }
        Tool::List
    }
}

/// A small xorshift generator per client: no shared state, no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    samples: BTreeMap<Tool, Vec<Duration>>,
    /// (tool, kind) -> (count, first message).
    errors: BTreeMap<(Tool, String), (u64, String)>,
    /// Errors per [`ERROR_WINDOW`] since the run started, to tell a cold start from trouble
    /// that goes on.
    errors_over_time: BTreeMap<u64, u64>,
    /// Calls answered without error per [`ERROR_WINDOW`], to see the warm-up.
    calls_over_time: BTreeMap<u64, u64>,
}

/// The width of one bucket of the errors' timeline.
const ERROR_WINDOW: Duration = Duration::from_secs(5);

impl ClientResult {
    fn error(&mut self, tool: Tool, kind: String, message: String, at: Duration) {
        let entry = self.errors.entry((tool, kind)).or_insert((0, message));
        entry.0 += 1;
        let window = at.as_secs() / ERROR_WINDOW.as_secs();
        *self.errors_over_time.entry(window).or_default() += 1;
    }

    fn answered(&mut self, tool: Tool, took: Duration, at: Duration) {
        self.samples.entry(tool).or_default().push(took);
        let window = at.as_secs() / ERROR_WINDOW.as_secs();
        *self.calls_over_time.entry(window).or_default() += 1;
    }
}

/// The server's open file descriptors.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Processes of the machine whose command name is `name` (Dovecot's imap, Postfix's smtpd).
fn processes(name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .count()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Samples RSS and fds every 100 ms until stopped; the peaks.
struct Peaks {
    stop: Arc<AtomicBool>,
    rss_kb: Arc<AtomicU64>,
    fds: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<()>,
}

impl Peaks {
    fn start(pid: u32) -> Peaks {
        let stop = Arc::new(AtomicBool::new(false));
        let (rss_kb, fds) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, r, f) = (stop.clone(), rss_kb.clone(), fds.clone());
        let handle = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                r.fetch_max((rss_mb(pid) * 1024.0) as u64, Ordering::Relaxed);
                f.fetch_max(open_fds(pid) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Peaks {
            stop,
            rss_kb,
            fds,
            handle,
        }
    }

    async fn finish(self) -> (f64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.await;
        (
            self.rss_kb.load(Ordering::Relaxed) as f64 / 1024.0,
            self.fds.load(Ordering::Relaxed),
        )
    }
}

/// Raises Postfix's limits for hundreds of SMTP sessions from one address (the server's
/// warm SMTP connections): 100 processes and 50 connections per client by default.
fn tune_postfix(stack: &Stack) {
    let conf = stack.dir.join("postfix/conf");
    let main_cf = conf.join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).unwrap();
    text.push_str(
        "\n# bin/bench --load: room for hundreds of SMTP sessions from 127.0.0.1\n\
default_process_limit = 2000\nsmtpd_client_connection_count_limit = 0\n\
smtpd_client_connection_rate_limit = 0\nsmtpd_client_message_rate_limit = 0\n",
    );
    std::fs::write(&main_cf, text).unwrap();
    let status = std::process::Command::new("postfix")
        .arg("-c")
        .arg(&conf)
        .arg("reload")
        .env("MAIL_CONFIG", &conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("bench: postfix reload failed; Postfix keeps its default limits");
    }
}

/// One client: its own connection, its own account, the mix until `deadline`.
async fn client(
    addr: String,
    token: String,
    peers: Arc<Vec<String>>,
    seed: u64,
    (start, deadline): (Instant, Instant),
) -> ClientResult {
    let mut result = ClientResult::default();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut conn = match http::Conn::connect(&addr).await {
        Ok(conn) => conn,
        Err(e) => {
            result.error(Tool::List, "connect".into(), e.to_string(), start.elapsed());
            return result;
        }
    };
    let mut sent = 0u64;
    while Instant::now() < deadline {
        let tool = Tool::pick(rng.next());
        let arguments = match tool {
            Tool::List => json!({"folder": "INBOX", "per_page": 20}),
            Tool::Get => json!({"folder": "INBOX", "uid": 1 + rng.next() % 100}),
            Tool::Search => json!({"folder": "INBOX", "subject": "invoice"}),
            Tool::Send => {
                sent += 1;
                let to = &peers[rng.next() as usize % peers.len()];
                json!({
                    "to": [to],
                    "subject": format!("load {seed}-{sent}"),
                    "text_body": "A message of the load run.\n",
                })
            }
        };
        let request = http::mcp_request(&addr, &token, &http::call_body(tool.name(), arguments));
        let started = Instant::now();
        match conn.send(&request).await {
            Ok(response) if response.ok() => {
                result.answered(tool, started.elapsed(), start.elapsed());
            }
            Ok(response) => {
                let text = response.text();
                let kind = if response.status != 200 {
                    format!("HTTP {}", response.status)
                } else if text.contains("\"isError\":true") {
                    "tool error".to_owned()
                } else {
                    "JSON-RPC error".to_owned()
                };
                let at = start.elapsed();
                result.error(tool, kind, text.chars().take(400).collect(), at);
            }
            Err(e) => {
                result.error(tool, "connection".into(), e.to_string(), start.elapsed());
                match http::Conn::connect(&addr).await {
                    Ok(fresh) => conn = fresh,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
    result
}

/// The whole load run; prints the report and writes it to `target/bench/load.md`.
pub async fn run(s: &Settings, l: &LoadSettings) {
    let machine = super::machine();
    eprintln!("bench --load: {machine}");
    let stack = Stack::start(&s.repo);
    stack.tune();
    tune_postfix(&stack);
    let newest = chrono::Utc::now().timestamp() - 3600;
    let mut users = Vec::new();
    for i in 0..l.accounts {
        let home = stack.dir.join(format!("mail/load-{i}"));
        fill::fill_folder(&home, "INBOX", 100, 1_000 + i as u64, newest).unwrap();
        users.push((i, home));
    }
    fill::chown_tree(&stack.dir.join("mail")).unwrap();
    let users: Vec<_> = users
        .iter()
        .map(|(i, home)| stack.add_user(&format!("load-{i}"), &format!("load-pw-{i}"), home))
        .collect();
    let peers = Arc::new(users.iter().map(|u| u.0.clone()).collect::<Vec<_>>());

    let key = mail_mcp::token::Keyring::encode_key(&mail_mcp::token::Keyring::generate_key());
    let idle = format!("{}s", l.pool_idle.as_secs());
    let server = Server::start(
        &s.repo,
        &stack,
        &key,
        &[("IMAP_POOL_IDLE", &idle), ("METRICS_TOKEN", METRICS_TOKEN)],
    )
    .await;
    let pid = server.pid();
    let addr = server.addr.clone();
    let tokens = Tokens::new(&key, &format!("http://{addr}"));
    let account_tokens: Vec<String> = users
        .iter()
        .map(|u| tokens.seal(stack.account(u)))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_before, fds_before) = (rss_mb(pid), open_fds(pid));
    let imap_before = processes("imap");

    let peaks = Peaks::start(pid);
    let cpu_before = super::cpu_seconds(pid);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(l.seconds);
    let tasks: Vec<_> = (0..l.clients)
        .map(|i| {
            let token = account_tokens[i % l.accounts].clone();
            tokio::spawn(client(
                addr.clone(),
                token,
                peers.clone(),
                i as u64 + 1,
                (started, deadline),
            ))
        })
        .collect();
    let mut samples: BTreeMap<Tool, Vec<Duration>> = BTreeMap::new();
    let mut errors: BTreeMap<(Tool, String), (u64, String)> = BTreeMap::new();
    let mut errors_over_time: BTreeMap<u64, u64> = BTreeMap::new();
    let mut calls_over_time: BTreeMap<u64, u64> = BTreeMap::new();
    let mut imap_peak = 0;
    let mut smtpd_peak = 0;
    let mut peak_probe = tokio::time::interval(Duration::from_secs(5));
    let mut joined = futures::future::join_all(tasks);
    let results = loop {
        tokio::select! {
            results = &mut joined => break results,
            _ = peak_probe.tick() => {
                imap_peak = imap_peak.max(processes("imap"));
                smtpd_peak = smtpd_peak.max(processes("smtpd"));
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = super::cpu_seconds(pid) - cpu_before;
    for result in results {
        let result = result.expect("a client task panicked");
        for (tool, mut series) in result.samples {
            samples.entry(tool).or_default().append(&mut series);
        }
        for (key, (count, message)) in result.errors {
            let entry = errors.entry(key).or_insert((0, message));
            entry.0 += count;
        }
        for (window, count) in result.errors_over_time {
            *errors_over_time.entry(window).or_default() += count;
        }
        for (window, count) in result.calls_over_time {
            *calls_over_time.entry(window).or_default() += count;
        }
    }
    let (rss_peak, fds_peak) = peaks.finish().await;
    let logins = imap_logins(&addr).await;
    let rss_end = rss_mb(pid);
    let fds_end = open_fds(pid);

    // After: the clients' connections are closed; wait until the warm IMAP/SMTP
    // connections have idled out (IMAP_POOL_IDLE, plus the reaper's round).
    let settle = l.pool_idle * 2 + Duration::from_secs(5);
    tokio::time::sleep(settle).await;
    let (rss_after, fds_after) = (rss_mb(pid), open_fds(pid));
    let imap_after = processes("imap");

    // More rounds: the same clients again, each followed by the same settling.
    let mut rounds = Vec::new();
    for round in 0..l.more_rounds {
        let again = Instant::now();
        let again_deadline = again + Duration::from_secs(l.second_round);
        let clients: Vec<_> = (0..l.clients)
            .map(|i| {
                let token = account_tokens[i % l.accounts].clone();
                let seed = ((round + 1) * l.clients + i) as u64 + 1;
                tokio::spawn(client(
                    addr.clone(),
                    token,
                    peers.clone(),
                    seed,
                    (again, again_deadline),
                ))
            })
            .collect();
        let (mut calls, mut failed) = (0usize, 0u64);
        for result in futures::future::join_all(clients).await {
            let result = result.expect("a client task panicked");
            calls += result.samples.values().map(Vec::len).sum::<usize>();
            failed += result.errors.values().map(|(n, _)| n).sum::<u64>();
        }
        tokio::time::sleep(settle).await;
        rounds.push((calls, failed, rss_mb(pid), open_fds(pid)));
    }
    let load_at_end = load_average();
    server.stop();
    stack.stop();

    let mut report = Vec::new();
    let mut say = |line: String| {
        println!("{line}");
        report.push(line);
    };
    let total: usize = samples.values().map(Vec::len).sum();
    let error_count: u64 = errors.values().map(|(n, _)| n).sum();
    say("## Load run".into());
    say(String::new());
    say(format!(
        "{} concurrent MCP clients (one keep-alive connection each) over {} accounts (100 \
         messages each, IMAPS + submission with STARTTLS), {} s, mix {}; server {} with \
         IMAP_POOL_IDLE={} (other settings default), load client on the same machine.",
        l.clients,
        l.accounts,
        l.seconds,
        MIX.iter()
            .map(|(t, p)| format!("{} {p}%", t.name()))
            .collect::<Vec<_>>()
            .join(", "),
        std::env::var("BENCH_SERVER_BIN").unwrap_or_else(|_| "target/release/mail_mcp".into()),
        idle
    ));
    say(String::new());
    say(format!("Machine: {machine}; at the end: {load_at_end}."));
    say(String::new());
    say("| tool | calls | calls/s | median ms | p99 ms | errors |".into());
    say("|---|---|---|---|---|---|".into());
    for (tool, _) in MIX {
        let series = samples.get(&tool).map(Vec::as_slice).unwrap_or(&[]);
        let latency = Latency::of(series);
        let tool_errors: u64 = errors
            .iter()
            .filter(|((t, _), _)| *t == tool)
            .map(|(_, (n, _))| n)
            .sum();
        say(format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            tool.name(),
            series.len(),
            series.len() as f64 / elapsed,
            latency.median_ms,
            latency.p99_ms,
            tool_errors
        ));
    }
    let all: Vec<Duration> = samples.values().flatten().copied().collect();
    let overall = Latency::of(&all);
    say(format!(
        "| **all** | {total} | {:.0} | {:.2} | {:.2} | {error_count} |",
        total as f64 / elapsed,
        overall.median_ms,
        overall.p99_ms
    ));
    say(String::new());
    say(format!(
        "Server CPU: {:.0} µs per call ({:.2} of one core over the run).",
        server_cpu / total.max(1) as f64 * 1e6,
        server_cpu / elapsed
    ));
    say(String::new());
    say(format!(
        "Calls answered per {} s of the run: {}.",
        ERROR_WINDOW.as_secs(),
        timeline(&calls_over_time)
    ));
    say(format!(
        "IMAP logins of the server during the run (its /metrics): {logins}."
    ));
    say(String::new());
    if errors.is_empty() {
        say("Errors: none.".into());
    } else {
        say("Errors by kind (count, first message):".into());
        say(String::new());
        for ((tool, kind), (count, message)) in &errors {
            say(format!(
                "- {} {kind}: {count} — `{}`",
                tool.name(),
                message.replace('`', "'")
            ));
        }
        say(String::new());
        say(format!(
            "Errors per {} s of the run: {}.",
            ERROR_WINDOW.as_secs(),
            timeline(&errors_over_time)
        ));
    }
    say(String::new());
    let round_names: String = (2..2 + rounds.len())
        .map(|n| format!(" after round {n} |"))
        .collect();
    say(format!(
        "| server | before | peak during | at the end of the run | after the pools idled out |{round_names}"
    ));
    say(format!(
        "|---|---|---|---|---|{}",
        "---|".repeat(rounds.len())
    ));
    let rss_rounds: String = rounds.iter().map(|r| format!(" {:.1} |", r.2)).collect();
    let fds_rounds: String = rounds.iter().map(|r| format!(" {} |", r.3)).collect();
    say(format!(
        "| RSS MB | {rss_before:.1} | {rss_peak:.1} | {rss_end:.1} | {rss_after:.1} |{rss_rounds}"
    ));
    say(format!(
        "| open fds | {fds_before} | {fds_peak} | {fds_end} | {fds_after} |{fds_rounds}"
    ));
    say(String::new());
    let round_calls: Vec<String> = rounds
        .iter()
        .map(|(calls, failed, _, _)| format!("{calls} calls, {failed} errors"))
        .collect();
    say(format!(
        "\"After\" is measured {} s after the clients stopped. Dovecot imap processes: {imap_before} before, \
         {imap_peak} at the peak, {imap_after} after; Postfix smtpd processes at the peak: {smtpd_peak}. \
         Rounds 2 to {} ran the same {} clients for {} s each against the same server process \
         ({}), each followed by the same settling.",
        settle.as_secs(),
        rounds.len() + 1,
        l.clients,
        l.second_round,
        round_calls.join("; ")
    ));
    let dir = s.repo.join("target/bench");
    std::fs::create_dir_all(&dir).ok();
    std::fs::write(dir.join("load.md"), report.join("\n") + "\n").ok();
    eprintln!("bench --load: report written to target/bench/load.md");
}

/// The bearer of the server's `/metrics` for this run.
const METRICS_TOKEN: &str = "bench-load-metrics";

/// The server's IMAP logins so far by outcome, from its `/metrics`
/// (`mail_mcp_mail_seconds_count{protocol="imap",step="login",outcome=...}`).
async fn imap_logins(addr: &str) -> String {
    let Ok(mut conn) = http::Conn::connect(addr).await else {
        return "unknown (no connection)".into();
    };
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {METRICS_TOKEN}\r\n\r\n"
    );
    let Ok(response) = conn.send(request.as_bytes()).await else {
        return "unknown (no answer)".into();
    };
    let counts: Vec<String> = response
        .text()
        .lines()
        .filter(|l| l.starts_with("mail_mcp_mail_seconds_count{"))
        .filter(|l| l.contains("protocol=\"imap\"") && l.contains("step=\"login\""))
        .filter_map(|l| {
            let outcome = l.split("outcome=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?;
            Some(format!("{count} {outcome}"))
        })
        .collect();
    if counts.is_empty() {
        "none counted".into()
    } else {
        counts.join(", ")
    }
}

/// `0-5 s: 12, 5-10 s: 0, ...` over the windows from the first to the last counted.
fn timeline(counts: &BTreeMap<u64, u64>) -> String {
    let width = ERROR_WINDOW.as_secs();
    let last = counts.keys().next_back().copied().unwrap_or(0);
    (0..=last)
        .map(|w| {
            let count = counts.get(&w).copied().unwrap_or(0);
            format!("{}-{} s: {count}", w * width, (w + 1) * width)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
