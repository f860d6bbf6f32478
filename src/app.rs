//! The running application: builds the shared [`AppState`] from a [`Config`] and serves
//! the router on a listener until the shutdown token is cancelled. `main` and the
//! integration tests both start the server through [`run`].

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::state::AppState;
pub use crate::state::StartError;

/// Serves the application on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let state = AppState::new(config, &shutdown).await?;
    let (imap, smtp) = (state.imap.clone(), state.smtp.clone());
    let base_url = state.config.base_url.clone();
    let trust_forwarded_for = state.config.trust_forwarded_for;
    let router = crate::http::router(state, shutdown.clone());
    tracing::info!(address = %listener.local_addr()?, %base_url, "mail_mcp listening");
    crate::http::forwarded::warn_if_proxied(&base_url, trust_forwarded_for, listener.local_addr()?);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    // Log out of the warm mail connections (the pools stop their reapers).
    tokio::join!(imap.shutdown(), smtp.shutdown());
    Ok(())
}
