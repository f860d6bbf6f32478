//! The running application: builds the shared [`AppState`] from a [`Config`] and serves
//! the router on a listener until the shutdown token is cancelled. `main` and the
//! integration tests both start the server through [`run`].

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::state::AppState;
pub use crate::state::StartError;

/// How long open connections may linger once the calls were cancelled after the grace.
const LINGER_AFTER_CANCEL: Duration = Duration::from_secs(5);

/// Serves the application on `listener` until `shutdown` is cancelled, then drains: new
/// MCP calls get 503 while those in flight finish (at most SHUTDOWN_GRACE), then the rest
/// are cancelled, the listener closes and the warm mail connections are logged out.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    // `stop` ends the MCP calls still running and the background work, after the drain.
    let stop = CancellationToken::new();
    let state = AppState::new(config, &stop).await?;
    let (imap, smtp) = (state.imap.clone(), state.smtp.clone());
    let base_url = state.config.base_url.clone();
    let trust_forwarded_for = state.config.trust_forwarded_for;
    let drained = drain_on(shutdown, &state, stop.clone());
    let router = crate::http::router(state, stop.clone());
    tracing::info!(address = %listener.local_addr()?, %base_url, "mail_mcp listening");
    crate::http::forwarded::warn_if_proxied(&base_url, trust_forwarded_for, listener.local_addr()?);
    let serve = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(drained);
    let lingering = async {
        stop.cancelled().await;
        tokio::time::sleep(LINGER_AFTER_CANCEL).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(serve) => served?,
        () = lingering => tracing::warn!("connections still open after the shutdown grace; closing them"),
    }
    // Log out of the warm mail connections (the pools stop their reapers).
    tokio::join!(imap.shutdown(), smtp.shutdown());
    Ok(())
}

/// Resolves once `shutdown` was cancelled and the MCP calls in flight finished or ran out
/// of SHUTDOWN_GRACE (then `stop` cancels them); axum stops taking connections after it.
fn drain_on(
    shutdown: CancellationToken,
    state: &AppState,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let drain = state.drain.clone();
    let grace = state.config.shutdown_grace;
    async move {
        shutdown.cancelled().await;
        drain.begin();
        let in_flight = drain.in_flight();
        tracing::info!(in_flight, grace = ?grace, "draining: new MCP calls get 503, calls in flight may finish");
        if !drain.wait(grace).await {
            let in_flight = drain.in_flight();
            tracing::warn!(
                in_flight,
                "shutdown grace over: cancelling the MCP calls still in flight"
            );
        }
        stop.cancel();
    }
}
