//! Configuration: one documented clap struct per command, read from flags and environment
//! variables of the same name, and validated once at start-up into a [`Config`]. Secrets
//! (the encryption keys) are never printed; a missing key is generated and persisted only
//! outside production.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use url::Url;

use crate::attachments::{MAX_PRESIGNED_TTL, S3Settings, StaticCredentials};
use crate::mail::imap::PoolSettings;
use crate::mail::{MailSettings, TlsSettings};
use crate::oauth_clients::registration::RedirectPolicy;
use crate::providers::Providers;
use crate::shared_store::{Capacities, LoginLimits, RequestLimits};
use crate::token::{Keyring, Lifetimes};

/// Settings every command that makes or opens tokens needs. No `Debug`: it holds the keys.
#[derive(Args, Clone)]
pub struct CommonArgs {
    /// Public URL of this server, as clients reach it (may carry a path prefix).
    /// Defaults to http://<LISTEN>.
    #[arg(long, env = "BASE_URL")]
    pub base_url: Option<String>,

    /// Comma-separated base64 32-byte keys: the first encrypts, all decrypt. Without it a
    /// key is generated on first start and kept in DATA_DIR/encryption.key (not in production).
    #[arg(long, env = "ENCRYPTION_KEYS", hide_env_values = true)]
    pub encryption_keys: Option<String>,

    /// Directory for the generated key and the local attachment store.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Refuse to start without an explicit ENCRYPTION_KEYS and an https BASE_URL.
    #[arg(long, env = "PRODUCTION")]
    pub production: bool,
}

/// How to reach mail servers: shared by `server` and `token` (which checks a login).
#[derive(Args, Clone, Debug)]
pub struct MailArgs {
    /// PEM file of an extra CA trusted for IMAP/SMTP TLS (private mail servers, tests).
    /// Web PKI roots are always trusted; verification is never turned off.
    #[arg(long, env = "MAIL_CA_FILE")]
    pub mail_ca_file: Option<PathBuf>,

    /// How long to wait for a mail server to accept a connection.
    #[arg(long, env = "MAIL_CONNECT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub mail_connect_timeout: Duration,

    /// How long to wait for a mail server to answer one command, and at most for a turn
    /// in this service's own queues (logins at once, an account's connections).
    #[arg(long, env = "MAIL_COMMAND_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub mail_command_timeout: Duration,
}

impl MailArgs {
    /// The connection settings: TLS trust (web PKI plus MAIL_CA_FILE) and time limits.
    pub fn settings(&self) -> Result<MailSettings, ConfigError> {
        let tls = TlsSettings::new(self.mail_ca_file.as_deref())
            .map_err(|e| ConfigError::MailCa(e.to_string()))?;
        Ok(MailSettings {
            tls,
            connect_timeout: self.mail_connect_timeout,
            command_timeout: self.mail_command_timeout,
            timings: Default::default(),
        })
    }
}

/// Settings of `mail_mcp server`. No `Debug`: it holds the keys, REDIS_URL and S3 secrets.
#[derive(Args, Clone)]
pub struct ServerArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Extra Host header values accepted besides BASE_URL's host (comma-separated).
    #[arg(long, env = "ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Extra browser origins allowed to call /mcp besides BASE_URL's (comma-separated).
    /// Requests with any other Origin header get 403; requests without one are unaffected.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// https redirect URIs a self-registered client may use (comma-separated; an entry
    /// ending in `*` is a prefix). Loopback http callbacks on any port are always allowed.
    #[arg(
        long,
        env = "REDIRECT_URI_ALLOWLIST",
        value_delimiter = ',',
        default_value = "https://claude.ai/api/mcp/auth_callback,https://claude.com/api/mcp/auth_callback"
    )]
    pub redirect_uri_allowlist: Vec<String>,

    /// Accept client ID metadata documents: an https URL as client_id, fetched to learn
    /// the client's name and redirect URIs (https on the document's host, or loopback).
    #[arg(long, env = "CLIENT_METADATA_DOCUMENTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub client_metadata_documents: bool,

    /// TOML file of the mail providers offered to clients without mail servers of their
    /// own (see providers.sample.toml).
    #[arg(long, env = "PROVIDERS_FILE")]
    pub providers_file: Option<PathBuf>,

    /// Let people type their own IMAP/SMTP hosts on the login page (public addresses and
    /// ports 993/143/465/587 only).
    #[arg(long, env = "ALLOW_CUSTOM_MAIL_SERVERS")]
    pub allow_custom_mail_servers: bool,

    /// Allow client metadata documents and custom mail servers on private, loopback and
    /// link-local addresses (and plain http documents). For tests and private networks only.
    #[arg(long, env = "ALLOW_PRIVATE_NETWORK")]
    pub allow_private_network: bool,

    /// Take the client address for login rate limits from the last X-Forwarded-For entry
    /// (set this only behind a reverse proxy that writes that header).
    #[arg(long, env = "TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    #[command(flatten)]
    pub mail: MailArgs,

    /// Lifetime of access tokens.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "8h", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of refresh tokens.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// Lifetime of authorization codes.
    #[arg(long, env = "AUTH_CODE_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub auth_code_ttl: Duration,

    /// Token endpoint requests allowed per client IP (IPv6: per /64) in TOKEN_RATE_WINDOW;
    /// more get 429 with Retry-After.
    #[arg(long, env = "TOKEN_MAX_REQUESTS_PER_IP", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_max_requests_per_ip: u64,

    /// Token endpoint requests allowed per client (client_id) in TOKEN_RATE_WINDOW.
    #[arg(long, env = "TOKEN_MAX_REQUESTS_PER_CLIENT", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_max_requests_per_client: u64,

    /// The window in which token endpoint requests are counted.
    #[arg(long, env = "TOKEN_RATE_WINDOW", default_value = "1m", value_parser = parse_window)]
    pub token_rate_window: Duration,

    /// Without REDIS_URL: records of each kind (used codes, sign-ins, rate-limit windows)
    /// the in-memory store holds at most.
    #[arg(long, env = "MEMORY_STORE_MAX_ENTRIES", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub memory_store_max_entries: u64,

    /// Redis URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS) of the store
    /// shared by several instances: used codes, refresh token families, login failures.
    /// Unset: an in-memory store, right for a single instance.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// How long one operation on Redis may take (connecting included) before the request
    /// that needed it is refused with a 503 (never let through unchecked).
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "3s", value_parser = parse_window)]
    pub redis_timeout: Duration,

    /// Failed logins allowed per client IP (IPv6: per /64) in LOGIN_FAILURE_WINDOW.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_IP", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub login_max_failures_per_ip: u64,

    /// Failed logins allowed per mail account (host and username) in LOGIN_FAILURE_WINDOW.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub login_max_failures_per_account: u64,

    /// The window in which failed logins are counted; it starts with the first attempt.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_window)]
    pub login_failure_window: Duration,

    /// Sign-ins of one mail account being checked at once (more are refused at once).
    #[arg(long, env = "LOGIN_MAX_IN_FLIGHT_PER_ACCOUNT", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub login_max_in_flight_per_account: u64,

    /// Sign-ins from one client IP being checked at once (more are refused at once).
    #[arg(long, env = "LOGIN_MAX_IN_FLIGHT_PER_IP", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub login_max_in_flight_per_ip: u64,

    /// Sign-ins being checked at once over all accounts: their own connection budget,
    /// apart from the IMAP pool that tool calls use (more are refused at once).
    #[arg(long, env = "LOGIN_CHECK_MAX", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub login_check_max: u64,

    /// IMAP logins (TCP, TLS, greeting, LOGIN) in progress at once over all accounts;
    /// more wait up to MAIL_COMMAND_TIMEOUT (accounts with no session first).
    #[arg(long, env = "IMAP_MAX_CONNECTING", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub imap_max_connecting: u64,

    /// SMTP connects (TCP, TLS, greeting, AUTH) in progress at once over all accounts;
    /// more wait up to MAIL_COMMAND_TIMEOUT.
    #[arg(long, env = "SMTP_MAX_CONNECTING", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub smtp_max_connecting: u64,

    /// Bearer token that `GET /metrics` requires; unset, /metrics answers 404 (off).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// On SIGTERM or Ctrl-C, how long MCP calls in flight may take to finish (new ones get
    /// 503) before they are cancelled and the server exits.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
    /// Where attachments are kept: `local` (files under DATA_DIR/attachments, links served
    /// by this server) or `s3` (a bucket, presigned URLs; needs S3_BUCKET).
    #[arg(long, env = "ATTACHMENT_STORE", value_enum, default_value_t = AttachmentStoreKind::Local)]
    pub attachment_store: AttachmentStoreKind,

    /// Lifetime of attachment URLs handed to the model: 4h by default, long enough for a
    /// conversation, short enough that a leaked link dies the same day; at most 7days with
    /// s3 (the longest presigned URL).
    #[arg(long, env = "ATTACHMENT_URL_TTL", default_value = "4h", value_parser = humantime::parse_duration)]
    pub attachment_url_ttl: Duration,

    /// Largest total size of the attachments of one sent message: bytes, or with a
    /// binary suffix K, M or G (25M = 26214400). A /mcp request may be 4/3 of it (inline
    /// attachments are base64) plus 4 MiB.
    #[arg(long, env = "MAX_ATTACHMENT_BYTES", default_value = "25M", value_parser = parse_byte_size)]
    pub max_attachment_bytes: u64,

    /// Largest attachment read from a mailbox (get_mail_attachment, the links of
    /// get_mail_message, attachments sent on by reference): larger ones are refused before
    /// they are fetched. Bytes, or with a binary suffix K, M or G.
    #[arg(long, env = "MAX_ATTACHMENT_READ_BYTES", default_value = "25M", value_parser = parse_byte_size)]
    pub max_attachment_read_bytes: u64,

    /// How often the local store removes expired attachments.
    #[arg(long, env = "ATTACHMENT_SWEEP_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub attachment_sweep_interval: Duration,

    /// Endpoint of an S3-compatible service (MinIO, Ceph, ...); unset for AWS S3 itself.
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Region of the bucket.
    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Bucket for attachments (required with ATTACHMENT_STORE=s3). Credentials come from
    /// the standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the
    /// container/instance role.
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Address the bucket as https://host/bucket/key instead of https://bucket.host/key
    /// (most S3-compatible servers need this).
    #[arg(long, env = "S3_FORCE_PATH_STYLE")]
    pub s3_force_path_style: bool,

    /// Access key id for S3-compatible services outside the AWS credential chain (with
    /// S3_SECRET_ACCESS_KEY); unset: the standard chain.
    #[arg(long, env = "S3_ACCESS_KEY_ID", requires = "s3_secret_access_key")]
    pub s3_access_key_id: Option<String>,

    /// The secret of S3_ACCESS_KEY_ID.
    #[arg(
        long,
        env = "S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "s3_access_key_id"
    )]
    pub s3_secret_access_key: Option<String>,

    /// The most one request to S3 may take, retries included; a store that is down or does
    /// not answer makes the call that needed it a tool error after at most this long.
    #[arg(long, env = "S3_TIMEOUT", default_value = "30s", value_parser = parse_window)]
    pub s3_timeout: Duration,

    /// How long a logged-in IMAP (and SMTP) connection is kept after a call for the same
    /// account's next call; 0s turns reuse off (every call logs in and out).
    #[arg(long, env = "IMAP_POOL_IDLE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub imap_pool_idle: Duration,

    /// The most IMAP (and SMTP) connections, and so calls at once, per mail account; more
    /// calls wait. Mail providers allow about 10-20 connections per user.
    #[arg(long, env = "IMAP_POOL_PER_ACCOUNT", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub imap_pool_per_account: u64,

    /// The most IMAP connections open at once over all accounts; the oldest idle one is
    /// closed to make room.
    #[arg(long, env = "IMAP_POOL_MAX", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub imap_pool_max: u64,
}

/// The attachment backends `ATTACHMENT_STORE` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AttachmentStoreKind {
    Local,
    S3,
}

/// The attachment store to open and its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentSettings {
    pub backend: AttachmentBackend,
    /// Lifetime of every URL handed out (S3: at most 7 days).
    pub url_ttl: Duration,
    /// Largest total size of the attachments of one sent message.
    pub max_bytes: u64,
    /// Largest single attachment read from a mailbox.
    pub max_read_bytes: u64,
    /// Period of the local store's expiry sweep.
    pub sweep_interval: Duration,
}

/// A backend with its own settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachmentBackend {
    /// Files under `DATA_DIR/attachments`.
    Local,
    S3(S3Settings),
}

/// Why the configuration cannot be used; each message is one line that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("BASE_URL '{0}' is not an absolute http(s) URL")]
    BaseUrl(String),
    #[error("--production needs {0}")]
    Production(String),
    #[error("ENCRYPTION_KEYS: {0}")]
    Keys(String),
    #[error("PROVIDERS_FILE {0}")]
    Providers(String),
    #[error("MAIL_CA_FILE: {0}")]
    MailCa(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("ATTACHMENT_STORE=s3 needs S3_BUCKET (the bucket attachments are uploaded to)")]
    S3BucketRequired,
    #[error("S3_ENDPOINT '{0}' is not an absolute http(s) URL")]
    S3Endpoint(String),
    #[error("ATTACHMENT_URL_TTL {0}")]
    AttachmentUrlTtl(String),
    #[error("ATTACHMENT_SWEEP_INTERVAL must be at least 1s")]
    SweepInterval,
}

/// The server's validated configuration.
pub struct Config {
    pub listen: SocketAddr,
    /// BASE_URL without a trailing slash, e.g. `https://mail.example.com/mcp-prefix`.
    pub base_url: String,
    pub keyring: Keyring,
    pub production: bool,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub redirect_policy: RedirectPolicy,
    /// CLIENT_METADATA_DOCUMENTS: a URL client_id is fetched as a metadata document.
    pub client_metadata_documents: bool,
    pub providers: Providers,
    pub allow_custom_mail_servers: bool,
    pub allow_private_network: bool,
    pub trust_forwarded_for: bool,
    /// MAIL_CA_FILE and the mail time limits; [`MailArgs::settings`] loads them.
    pub mail: MailArgs,
    pub lifetimes: Lifetimes,
    /// TOKEN_MAX_REQUESTS_PER_IP, TOKEN_MAX_REQUESTS_PER_CLIENT, TOKEN_RATE_WINDOW.
    pub token_limits: RequestLimits,
    /// MEMORY_STORE_MAX_ENTRIES, for each kind of record.
    pub memory_store: Capacities,
    pub data_dir: PathBuf,
    /// REDIS_URL; `None` for the in-memory store. May hold a password: never log it.
    pub redis_url: Option<String>,
    /// REDIS_TIMEOUT: the bound of one Redis operation.
    pub redis_timeout: Duration,
    pub login_limits: LoginLimits,
    pub attachments: AttachmentSettings,
    /// Bounds of the warm IMAP/SMTP connections (IMAP_POOL_*).
    pub mail_pool: PoolSettings,
    /// LOGIN_CHECK_MAX: login checks at once over all accounts.
    pub login_check_max: usize,
    /// IMAP_MAX_CONNECTING: IMAP logins in progress at once.
    pub imap_max_connecting: usize,
    /// SMTP_MAX_CONNECTING: SMTP connects in progress at once.
    pub smtp_max_connecting: usize,
    /// METRICS_TOKEN: the bearer `/metrics` requires; `None` turns `/metrics` off.
    pub metrics_token: Option<String>,
    /// SHUTDOWN_GRACE: how long calls in flight may finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Config {
    /// Validates server settings, loading or (outside production) creating the key.
    pub fn from_args(args: ServerArgs) -> Result<Config, ConfigError> {
        args.common.check_production()?;
        let base_url = args.common.resolve_base_url()?;
        let keyring = args.common.resolve_keyring()?;
        let providers = match &args.providers_file {
            Some(path) => Providers::load(path).map_err(ConfigError::Providers)?,
            None => Providers::default(),
        };
        let attachments = attachment_settings(&args)?;
        let lifetimes = Lifetimes {
            access: args.access_token_ttl,
            refresh: args.refresh_token_ttl,
            code: args.auth_code_ttl,
            ..Lifetimes::default()
        };
        Ok(Config {
            listen: args.common.listen,
            base_url,
            keyring,
            production: args.common.production,
            allowed_hosts: args.allowed_hosts,
            allowed_origins: args.allowed_origins,
            redirect_policy: RedirectPolicy {
                https_allowlist: args.redirect_uri_allowlist,
            },
            client_metadata_documents: args.client_metadata_documents,
            providers,
            allow_custom_mail_servers: args.allow_custom_mail_servers,
            allow_private_network: args.allow_private_network,
            trust_forwarded_for: args.trust_forwarded_for,
            mail: args.mail,
            lifetimes,
            token_limits: RequestLimits {
                per_ip: args.token_max_requests_per_ip,
                per_client: args.token_max_requests_per_client,
                window: args.token_rate_window,
            },
            memory_store: Capacities::all(args.memory_store_max_entries as usize),
            data_dir: args.common.data_dir,
            redis_url: args.redis_url,
            redis_timeout: args.redis_timeout,
            login_limits: LoginLimits {
                per_ip: args.login_max_failures_per_ip,
                per_account: args.login_max_failures_per_account,
                window: args.login_failure_window,
                in_flight_per_account: args.login_max_in_flight_per_account as usize,
                in_flight_per_ip: args.login_max_in_flight_per_ip as usize,
            },
            login_check_max: args.login_check_max as usize,
            imap_max_connecting: args.imap_max_connecting as usize,
            smtp_max_connecting: args.smtp_max_connecting as usize,
            metrics_token: args.metrics_token.filter(|t| !t.is_empty()),
            shutdown_grace: args.shutdown_grace,
            attachments,
            mail_pool: PoolSettings {
                idle: args.imap_pool_idle,
                per_account: args.imap_pool_per_account as usize,
                max: args.imap_pool_max as usize,
            },
        })
    }

    /// An absolute URL of this server for a path that starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The protected resource: the MCP endpoint's URL.
    pub fn resource(&self) -> String {
        self.url("/mcp")
    }

    /// BASE_URL's origin (`https://host[:port]`), for Origin header checks.
    pub fn origin(&self) -> String {
        Url::parse(&self.base_url)
            .expect("validated at start-up")
            .origin()
            .ascii_serialization()
    }

    /// BASE_URL's host with and without port, for Host header checks.
    pub fn base_authorities(&self) -> Vec<String> {
        let url = Url::parse(&self.base_url).expect("validated at start-up");
        let host = url.host_str().unwrap_or_default().to_string();
        match url.port() {
            Some(port) => vec![format!("{host}:{port}"), host],
            None => vec![host],
        }
    }
}

impl CommonArgs {
    /// In production, names everything that is missing at once.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if !self.production {
            return Ok(());
        }
        let mut missing = Vec::new();
        if self.encryption_keys.is_none() {
            missing.push("ENCRYPTION_KEYS (make one with `mail_mcp keygen`)".to_string());
        }
        let base_url = self
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url(self.listen));
        if !base_url.starts_with("https://") {
            missing.push(format!("an https BASE_URL (got {base_url})"));
        }
        match missing.is_empty() {
            true => Ok(()),
            false => Err(ConfigError::Production(missing.join(" and "))),
        }
    }

    /// BASE_URL checked and normalised (no trailing slash).
    pub fn resolve_base_url(&self) -> Result<String, ConfigError> {
        let raw = self
            .base_url
            .clone()
            .unwrap_or_else(|| default_base_url(self.listen));
        let url = Url::parse(&raw).map_err(|_| ConfigError::BaseUrl(raw.clone()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::BaseUrl(raw));
        }
        Ok(raw.trim_end_matches('/').to_string())
    }

    /// The keyring from ENCRYPTION_KEYS, or the persisted/generated development key.
    pub fn resolve_keyring(&self) -> Result<Keyring, ConfigError> {
        match &self.encryption_keys {
            Some(list) => Keyring::parse(list).map_err(|e| ConfigError::Keys(e.to_string())),
            None if self.production => Err(ConfigError::Production("ENCRYPTION_KEYS".into())),
            None => load_or_create_key(&self.data_dir.join("encryption.key")),
        }
    }
}

/// The attachment settings, checked: S3 needs a bucket, a valid endpoint and a URL
/// lifetime it can sign.
fn attachment_settings(args: &ServerArgs) -> Result<AttachmentSettings, ConfigError> {
    let ttl = args.attachment_url_ttl;
    if ttl < Duration::from_secs(1) {
        return Err(ConfigError::AttachmentUrlTtl("must be at least 1s".into()));
    }
    if args.attachment_sweep_interval < Duration::from_secs(1) {
        return Err(ConfigError::SweepInterval);
    }
    let backend = match args.attachment_store {
        AttachmentStoreKind::Local => AttachmentBackend::Local,
        AttachmentStoreKind::S3 => AttachmentBackend::S3(s3_settings(args)?),
    };
    Ok(AttachmentSettings {
        backend,
        url_ttl: ttl,
        max_bytes: args.max_attachment_bytes,
        max_read_bytes: args.max_attachment_read_bytes,
        sweep_interval: args.attachment_sweep_interval,
    })
}

fn s3_settings(args: &ServerArgs) -> Result<S3Settings, ConfigError> {
    let bucket = args
        .s3_bucket
        .clone()
        .filter(|b| !b.trim().is_empty())
        .ok_or(ConfigError::S3BucketRequired)?;
    if let Some(endpoint) = &args.s3_endpoint {
        let valid = Url::parse(endpoint)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !valid {
            return Err(ConfigError::S3Endpoint(endpoint.clone()));
        }
    }
    if args.attachment_url_ttl > MAX_PRESIGNED_TTL {
        return Err(ConfigError::AttachmentUrlTtl(format!(
            "is {} but S3 presigned URLs last at most 7days",
            humantime::format_duration(args.attachment_url_ttl)
        )));
    }
    Ok(S3Settings {
        endpoint: args.s3_endpoint.clone(),
        region: args.s3_region.clone(),
        bucket,
        force_path_style: args.s3_force_path_style,
        credentials: static_credentials(args),
        timeout: args.s3_timeout,
    })
}

/// The S3 keys given in the configuration, when both are.
fn static_credentials(args: &ServerArgs) -> Option<StaticCredentials> {
    match (&args.s3_access_key_id, &args.s3_secret_access_key) {
        (Some(id), Some(secret)) => Some(StaticCredentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
        }),
        _ => None,
    }
}

/// A byte count: digits, optionally followed by K, M or G (binary: 1K = 1024), with or
/// without a trailing `B`/`iB`, any case.
fn parse_byte_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let unit_start = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(unit_start);
    let multiplier: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown unit '{other}' (use K, M or G)")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size like 26214400 or 25M"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{text}' is too large"))
}

fn default_base_url(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

/// A humantime duration that is not zero.
fn parse_window(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text).map_err(|e| e.to_string())? {
        d if d.is_zero() => Err("must be longer than zero".into()),
        d => Ok(d),
    }
}

fn key_file_error(path: &Path, reason: impl ToString) -> ConfigError {
    ConfigError::KeyFile {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads the development key, or creates it (mode 0600) with a warning that says so.
fn load_or_create_key(path: &Path) -> Result<Keyring, ConfigError> {
    if path.exists() {
        let text = fs::read_to_string(path).map_err(|e| key_file_error(path, e))?;
        return Keyring::parse(text.trim()).map_err(|e| key_file_error(path, e));
    }
    let encoded = Keyring::encode_key(&Keyring::generate_key());
    write_private_file(path, &encoded).map_err(|e| key_file_error(path, e))?;
    tracing::warn!(
        path = %path.display(),
        "no ENCRYPTION_KEYS set: generated a new key and saved it there (mode 0600); \
         tokens stay valid across restarts while this file is kept. Set ENCRYPTION_KEYS in production"
    );
    Keyring::parse(&encoded).map_err(|e| key_file_error(path, e))
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn args(extra: &[&str]) -> ServerArgs {
        let mut argv = vec!["mail_mcp"];
        argv.extend_from_slice(extra);
        Wrapper::parse_from(argv).args
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mail_mcp-config-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn defaults_listen_on_loopback_with_a_matching_base_url() {
        let dir = temp_dir();
        let config = Config::from_args(args(&["--data-dir", dir.to_str().unwrap()])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.base_url, "http://127.0.0.1:3000");
        assert_eq!(config.resource(), "http://127.0.0.1:3000/mcp");
        assert_eq!(config.lifetimes.access, Duration::from_secs(8 * 3600));
    }

    #[test]
    fn a_generated_key_is_private_and_reused_on_the_next_start() {
        let dir = temp_dir();
        let data = ["--data-dir", dir.to_str().unwrap()];
        let first = Config::from_args(args(&data)).unwrap();
        let key_file = dir.join("encryption.key");
        let mode = fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = Config::from_args(args(&data)).unwrap();
        assert_eq!(first.keyring.primary_kid(), second.keyring.primary_kid());
    }

    #[test]
    fn production_refuses_a_missing_key_and_plain_http() {
        let dir = temp_dir();
        let data = dir.to_str().unwrap();
        let err = Config::from_args(args(&[
            "--production",
            "--data-dir",
            data,
            "--base-url",
            "https://mail.example.com",
        ]))
        .err()
        .unwrap();
        assert!(err.to_string().contains("ENCRYPTION_KEYS"), "{err}");
        assert!(!err.to_string().contains("https"), "{err}");
        let err = Config::from_args(args(&["--production"])).err().unwrap();
        assert!(
            err.to_string().contains("ENCRYPTION_KEYS")
                && err.to_string().contains("https BASE_URL"),
            "{err}"
        );
        let key = Keyring::encode_key(&Keyring::generate_key());
        let err = Config::from_args(args(&["--production", "--encryption-keys", &key]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("https BASE_URL"), "{err}");
    }

    #[test]
    fn bad_settings_stop_start_up_with_a_reason() {
        let err = Config::from_args(args(&["--encryption-keys", "c2hvcnQ="]))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("ENCRYPTION_KEYS"), "{err}");
        let err = Config::from_args(args(&["--base-url", "not a url"]))
            .err()
            .unwrap();
        assert!(matches!(err, ConfigError::BaseUrl(_)), "{err}");
    }

    #[test]
    fn attachments_default_to_the_local_store_with_four_hour_links() {
        let dir = temp_dir();
        let config = Config::from_args(args(&["--data-dir", dir.to_str().unwrap()])).unwrap();
        let expected = AttachmentSettings {
            backend: AttachmentBackend::Local,
            url_ttl: Duration::from_secs(4 * 3600),
            max_bytes: 25 * 1024 * 1024,
            max_read_bytes: 25 * 1024 * 1024,
            sweep_interval: Duration::from_secs(3600),
        };
        assert_eq!(config.attachments, expected);
    }

    #[test]
    fn the_s3_store_needs_a_bucket_a_valid_endpoint_and_a_signable_ttl() {
        let key = Keyring::encode_key(&Keyring::generate_key());
        let with = |extra: &[&str]| {
            let mut argv = vec![
                "--encryption-keys",
                key.as_str(),
                "--attachment-store",
                "s3",
            ];
            argv.extend_from_slice(extra);
            Config::from_args(args(&argv)).map(|c| c.attachments)
        };
        let err = with(&[]).err().unwrap();
        assert!(matches!(err, ConfigError::S3BucketRequired), "{err}");
        assert!(err.to_string().contains("S3_BUCKET"));
        let err = with(&["--s3-bucket", "b", "--s3-endpoint", "minio:9000"])
            .err()
            .unwrap();
        assert!(matches!(err, ConfigError::S3Endpoint(_)), "{err}");
        let err = with(&["--s3-bucket", "b", "--attachment-url-ttl", "8days"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("at most 7days"), "{err}");
        let settings = with(&[
            "--s3-bucket",
            "b",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-force-path-style",
            "--attachment-url-ttl",
            "1h",
        ])
        .unwrap();
        let expected = S3Settings {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            bucket: "b".into(),
            force_path_style: true,
            credentials: None,
            timeout: Duration::from_secs(30),
        };
        assert_eq!(settings.backend, AttachmentBackend::S3(expected));
        let with_keys = with(&[
            "--s3-bucket",
            "b",
            "--s3-access-key-id",
            "AKID",
            "--s3-secret-access-key",
            "top-secret",
        ])
        .unwrap();
        let AttachmentBackend::S3(s3) = with_keys.backend else {
            panic!("an S3 backend")
        };
        let keys = s3.credentials.unwrap();
        assert_eq!(keys.access_key_id, "AKID");
        assert!(!format!("{keys:?}").contains("top-secret"));
        assert_eq!(settings.url_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn byte_sizes_take_binary_suffixes() {
        let cases = [
            ("26214400", Ok(26_214_400)),
            ("25M", Ok(26_214_400)),
            ("25mb", Ok(26_214_400)),
            ("25 MiB", Ok(26_214_400)),
            ("512K", Ok(524_288)),
            ("1G", Ok(1_073_741_824)),
            ("0", Ok(0)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_byte_size(input), expected, "{input}");
        }
        for bad in ["", "M", "25T", "-1", "1.5M", "99999999999999999999G"] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_base_url_path_prefix_is_kept_in_every_url() {
        let key = Keyring::encode_key(&Keyring::generate_key());
        let config = Config::from_args(args(&[
            "--encryption-keys",
            &key,
            "--base-url",
            "https://host.example/mail/",
        ]))
        .unwrap();
        assert_eq!(config.resource(), "https://host.example/mail/mcp");
        assert_eq!(config.base_authorities(), vec!["host.example".to_string()]);
    }

    #[test]
    fn mail_pool_defaults_and_limits() {
        let config =
            Config::from_args(args(&["--data-dir", temp_dir().to_str().unwrap()])).unwrap();
        assert_eq!(config.mail_pool, PoolSettings::default());
        let config = Config::from_args(args(&[
            "--data-dir",
            temp_dir().to_str().unwrap(),
            "--imap-pool-idle",
            "0s",
            "--imap-pool-per-account",
            "10",
        ]))
        .unwrap();
        assert!(!config.mail_pool.reuse());
        assert_eq!(config.mail_pool.per_account, 10);
        assert!(Wrapper::try_parse_from(["mail_mcp", "--imap-pool-per-account", "0"]).is_err());
        assert!(Wrapper::try_parse_from(["mail_mcp", "--imap-pool-max", "0"]).is_err());
    }

    /// Attachment URLs handed to the model last 4 hours unless ATTACHMENT_URL_TTL says
    /// otherwise.
    #[test]
    fn attachment_urls_default_to_four_hours_and_stay_settable() {
        let wrapper = Wrapper::try_parse_from(["mail_mcp"]).unwrap();
        assert_eq!(
            wrapper.args.attachment_url_ttl,
            Duration::from_secs(4 * 3600)
        );
        let wrapper =
            Wrapper::try_parse_from(["mail_mcp", "--attachment-url-ttl", "2days"]).unwrap();
        assert_eq!(
            wrapper.args.attachment_url_ttl,
            Duration::from_secs(2 * 86400)
        );
    }

    #[test]
    fn login_limits_default_to_20_per_ip_and_5_per_account_in_15_minutes() {
        let config =
            Config::from_args(args(&["--data-dir", temp_dir().to_str().unwrap()])).unwrap();
        assert_eq!(config.login_limits, LoginLimits::default());
        assert_eq!(config.token_limits, RequestLimits::default());
        assert_eq!(config.memory_store, Capacities::default());
        assert_eq!(config.login_limits.in_flight_per_account, 2);
        assert_eq!(config.login_limits.in_flight_per_ip, 4);
        assert_eq!(config.login_check_max, 32);
        assert_eq!(config.smtp_max_connecting, 100);
        assert_eq!(config.imap_max_connecting, 32);
        assert_eq!(config.redis_url, None);
        let wrapper = Wrapper::try_parse_from(["mail_mcp", "--login-failure-window", "0s"]);
        assert!(wrapper.is_err());
    }
}
