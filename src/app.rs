//! The running application: builds the shared [`AppState`] from a [`Config`] and serves
//! the router on a listener until the shutdown token is cancelled. `main` and the
//! integration tests both start the server through [`run`].

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clients::ClientRegistry;
use crate::config::Config;
use crate::mail::{Imap, Smtp};
use crate::store::SharedStore;
use crate::token::TokenCodec;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub tokens: Arc<TokenCodec>,
    pub clients: Arc<ClientRegistry>,
    pub imap: Imap,
    pub smtp: Smtp,
    /// Used codes, refresh families, login failures: memory, or Redis with REDIS_URL.
    pub store: Arc<dyn SharedStore>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("serving HTTP failed: {0}")]
    Serve(#[from] std::io::Error),
}

impl AppState {
    /// Builds the state; with REDIS_URL, connects to Redis and fails when it does not answer.
    pub async fn new(config: Config) -> Result<AppState, StartError> {
        let tokens = Arc::new(TokenCodec::new(
            config.keyring.clone(),
            config.base_url.clone(),
            config.resource(),
        ));
        let clients = Arc::new(ClientRegistry::new(
            tokens.clone(),
            config.allow_private_network,
        ));
        let settings = config
            .mail
            .settings()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let store = crate::store::open(config.redis_url.as_deref())
            .await
            .map_err(|e| StartError::Config(format!("REDIS_URL: {e}")))?;
        Ok(AppState {
            tokens,
            clients,
            imap: Imap::new(settings.clone()),
            smtp: Smtp::new(settings),
            store,
            config: Arc::new(config),
        })
    }
}

/// Serves the application on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let state = AppState::new(config).await?;
    let base_url = state.config.base_url.clone();
    let router = crate::http::router(state, shutdown.clone());
    tracing::info!(address = %listener.local_addr()?, %base_url, "mail_mcp listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}
