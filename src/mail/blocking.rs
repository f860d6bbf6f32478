//! Slow CPU work of the mail layer (parsing a whole message, decoding a large part) runs
//! on tokio's blocking pool, never on the async threads that serve other calls:
//! [`run_blocking`] is the one way the layer does it. It does no I/O.

use crate::mail::error::MailError;

/// Runs `work` on the blocking pool. Should the work panic (or the runtime be shutting
/// down), the caller gets `MailError::Protocol(failure)`; the panic's own text is logged,
/// never sent.
pub(crate) async fn run_blocking<T: Send + 'static>(
    failure: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, MailError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::warn!(error = %err, "{failure}");
        MailError::Protocol(failure.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_and_a_panic_becomes_the_named_error() {
        assert_eq!(run_blocking("unused", || 2 + 2).await.unwrap(), 4);
        let err = run_blocking("parsing failed", || -> u8 { panic!("secret detail") })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            MailError::Protocol("parsing failed".into()).to_string()
        );
        assert!(!err.to_string().contains("secret detail"));
    }
}
