//! The shared application state: one [`AppState`] of cheap clones and `Arc`s, built once
//! from the [`Config`] at start-up and handed to every HTTP handler and MCP tool. It sits
//! below both `app` (which serves it) and `http/` (which reads it), so neither imports the
//! other for it. Nothing here handles a request.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::attachments::{
    AttachmentStore, KEY_SUBKEY_LABEL, LINK_SUBKEY_LABEL, LinkSigner, LocalStore, S3Store,
    spawn_sweeper,
};
use crate::config::{AttachmentBackend, Config, ConfigError};
use crate::drain::Drain;
use crate::mail::{Imap, LoginBudget, Outbox, Smtp};
use crate::mail_files::{FileLimits, MailFiles};
use crate::metrics::Metrics;
use crate::oauth_clients::ClientRegistry;
use crate::shared_store::{LoginLimiter, SharedStore, StoredSendAttempts};
use crate::token::TokenCodec;
use crate::upstream::shared::SharedCache;
use crate::upstream::{AccessTokenCache, Upstream};

/// How many sign-ins' upstream access tokens are kept in memory.
const UPSTREAM_CACHE_ENTRIES: usize = 10_000;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub tokens: Arc<TokenCodec>,
    /// The OAuth clients: sealed client_ids, registration, metadata documents.
    pub oauth_clients: Arc<ClientRegistry>,
    pub imap: Imap,
    pub smtp: Smtp,
    /// Used codes, refresh families, login failures: memory, or Redis with REDIS_URL.
    pub shared_store: Arc<dyn SharedStore>,
    /// Where attachments are uploaded and read back (local files or S3).
    pub attachments: Arc<dyn AttachmentStore>,
    /// Attachment links of read mail and the files of outgoing mail, over `attachments`.
    pub mail_files: Arc<MailFiles>,
    /// Sends, replies, forwards and saves drafts over `imap` and `smtp`.
    pub outbox: Arc<Outbox>,
    /// Sign-in attempts counted in `shared_store`, and those in flight in this process.
    pub login_limiter: LoginLimiter,
    /// The connection budget of login checks, apart from the IMAP pool.
    pub login_budget: LoginBudget,
    /// The OAuth mail providers and their cached access tokens.
    pub upstream: Upstream,
    /// The Prometheus series of this process (`/metrics`).
    pub metrics: Metrics,
    /// The MCP calls in flight, and whether a shutdown is draining them.
    pub drain: Drain,
}

/// Why the server could not start (or stopped serving). Each message names the setting
/// to look at; the underlying error is its `source` as well as part of the text.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The mail settings (IMAP/SMTP defaults and providers) are not usable.
    #[error("{0}")]
    MailSettings(#[source] ConfigError),
    /// REDIS_URL is set but the shared store cannot be opened.
    #[error("REDIS_URL: {0}")]
    SharedStore(#[source] crate::shared_store::StoreError),
    /// The local attachment store's directory cannot be used.
    #[error("local attachment store {}: {source}", root.display())]
    LocalAttachments {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The S3 attachment store cannot be set up.
    #[error("S3 attachment store: {0}")]
    S3Attachments(#[source] crate::attachments::AttachmentStoreError),
    #[error("serving HTTP failed: {0}")]
    Serve(#[from] std::io::Error),
}

impl AppState {
    /// The state for `config`; background work (the local attachment sweep) stops when
    /// `shutdown` is cancelled.
    pub async fn new(config: Config, shutdown: &CancellationToken) -> Result<AppState, StartError> {
        let tokens = Arc::new(TokenCodec::new(
            config.keyring.clone(),
            config.base_url.clone(),
            config.resource(),
        ));
        let oauth_clients = Arc::new(ClientRegistry::new(
            tokens.clone(),
            config.allow_private_network,
            config.client_metadata_documents,
        ));
        let metrics = Metrics::new();
        let mut settings = config.mail.settings().map_err(StartError::MailSettings)?;
        settings.timings = metrics.mail_timings();
        let shared_store = crate::shared_store::open_with(
            config.redis_url.as_deref(),
            config.memory_store,
            config.redis_timeout,
        )
        .await
        .map_err(StartError::SharedStore)?;
        let attachments = open_attachment_store(&config, shutdown).await?;
        let imap = Imap::with_pool(settings.clone(), config.mail_pool)
            .with_max_connecting(config.imap_max_connecting);
        let smtp = Smtp::with_pool(settings, config.mail_pool)
            .with_max_connecting(config.smtp_max_connecting);
        let mail_files = MailFiles::new(
            attachments.clone(),
            config.keyring.derive_subkey(KEY_SUBKEY_LABEL),
            FileLimits {
                url_ttl: config.attachments.url_ttl,
                read_bytes: config.attachments.max_read_bytes,
                send_bytes: config.attachments.max_bytes,
            },
            imap.clone(),
        );
        let outbox = Outbox::new(imap.clone(), smtp.clone())
            .with_attachment_limit(mail_files.send_limit())
            .with_smtp_saving_sent(config.providers.smtp_saves_sent_hosts())
            .with_send_attempts(Arc::new(StoredSendAttempts::new(shared_store.clone())));
        Ok(AppState {
            tokens,
            oauth_clients,
            imap,
            smtp,
            mail_files: Arc::new(mail_files),
            outbox: Arc::new(outbox),
            login_limiter: LoginLimiter::new(shared_store.clone(), config.login_limits),
            login_budget: LoginBudget::new(config.login_check_max),
            upstream: upstream(&config, &shared_store),
            metrics,
            drain: Drain::new(),
            shared_store,
            attachments,
            config: Arc::new(config),
        })
    }
}

/// The OAuth providers, their access tokens cached in memory and, with Redis, shared
/// between instances (keys derived from ENCRYPTION_KEYS, so that every instance agrees).
fn upstream(config: &Config, shared_store: &Arc<dyn SharedStore>) -> Upstream {
    let callback = config.url("/oauth/provider/callback");
    if config.redis_url.is_none() {
        return Upstream::new(config.providers.clone(), callback, UPSTREAM_CACHE_ENTRIES);
    }
    let shared = SharedCache::new(
        shared_store.clone(),
        config.keyring.derive_subkey("upstream-token-cache-seal"),
        config.lifetimes.refresh,
    );
    let cache = AccessTokenCache::shared(
        UPSTREAM_CACHE_ENTRIES,
        config.keyring.derive_subkey("upstream-token-cache-key"),
        shared,
    );
    Upstream::with_cache(config.providers.clone(), callback, cache)
}

/// The configured attachment store: the local one with its sweep task, or S3 (whose
/// bucket is checked in the background, so a slow credential source cannot stall start-up).
async fn open_attachment_store(
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<Arc<dyn AttachmentStore>, StartError> {
    let settings = &config.attachments;
    match &settings.backend {
        AttachmentBackend::Local => {
            let root = config.data_dir.join("attachments");
            let links = LinkSigner::new(config.keyring.derive_subkey(LINK_SUBKEY_LABEL));
            let store = LocalStore::new(root.clone(), links, &config.base_url, settings.url_ttl)
                .map_err(|source| StartError::LocalAttachments {
                    root: root.clone(),
                    source,
                })?;
            let store = Arc::new(store);
            spawn_sweeper(store.clone(), settings.sweep_interval, shutdown.clone());
            Ok(store)
        }
        AttachmentBackend::S3(s3) => {
            let store = S3Store::from_environment(s3.clone())
                .await
                .map_err(StartError::S3Attachments)?;
            let store = Arc::new(store);
            let probe = store.clone();
            let bucket = s3.bucket.clone();
            tokio::spawn(async move {
                match probe.check_bucket().await {
                    Ok(()) => tracing::info!(%bucket, "S3 attachment bucket reachable"),
                    Err(e) => {
                        tracing::warn!(%bucket, error = %e, "S3 attachment bucket not reachable yet")
                    }
                }
            });
            Ok(store)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    /// Start-up errors say which setting failed, as they did when they were strings, and
    /// keep the underlying error as their source.
    #[test]
    fn start_errors_name_the_setting_and_keep_their_source() {
        let redis = StartError::SharedStore(crate::shared_store::StoreError::BadUrl("x".into()));
        assert_eq!(
            redis.to_string(),
            "REDIS_URL: REDIS_URL is not a usable redis URL: x"
        );
        assert!(redis.source().is_some());
        let local = StartError::LocalAttachments {
            root: PathBuf::from("/data/attachments"),
            source: std::io::Error::other("read-only file system"),
        };
        assert_eq!(
            local.to_string(),
            "local attachment store /data/attachments: read-only file system"
        );
        assert!(local.source().is_some());
        let s3 = StartError::S3Attachments(crate::attachments::AttachmentStoreError::NotFound);
        assert!(s3.to_string().starts_with("S3 attachment store: "), "{s3}");
    }
}
