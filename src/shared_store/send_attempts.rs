//! The shared store as the outbox's record of sends begun ([`SendAttempts`]): one record
//! per send with an idempotency key, under a hash of its Message-ID (no address is stored),
//! holding `begun` or `sent`, for [`SEND_ATTEMPT_TTL`]. With Redis every instance sees
//! the others' sends, so a retry landing on another instance is recognised too.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::SharedStore;
use crate::mail::outbox::attempts::SEND_ATTEMPT_TTL;
use crate::mail::outbox::{AttemptsUnavailable, EarlierAttempt, SendAttempts, Settled};

const BEGUN: &str = "begun";
const SENT: &str = "sent";

/// Sends begun, recorded in a [`SharedStore`].
#[derive(Clone)]
pub struct StoredSendAttempts {
    store: Arc<dyn SharedStore>,
}

impl std::fmt::Debug for StoredSendAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredSendAttempts")
    }
}

impl StoredSendAttempts {
    pub fn new(store: Arc<dyn SharedStore>) -> StoredSendAttempts {
        StoredSendAttempts { store }
    }
}

/// The record's key: a hash of the Message-ID (itself derived from account and key).
fn record_key(message_id: &str) -> String {
    format!(
        "send:{}",
        URL_SAFE_NO_PAD.encode(&Sha256::digest(message_id.as_bytes())[..18])
    )
}

fn unavailable(err: super::StoreError) -> AttemptsUnavailable {
    AttemptsUnavailable(err.to_string())
}

#[async_trait]
impl SendAttempts for StoredSendAttempts {
    async fn begin(&self, message_id: &str) -> Result<Option<EarlierAttempt>, AttemptsUnavailable> {
        let held = self
            .store
            .claim_record(&record_key(message_id), BEGUN, SEND_ATTEMPT_TTL)
            .await
            .map_err(unavailable)?;
        Ok(held.map(|state| match state.as_str() {
            SENT => EarlierAttempt::Sent,
            _ => EarlierAttempt::Unsettled,
        }))
    }

    async fn begin_again(&self, message_id: &str) -> Result<(), AttemptsUnavailable> {
        self.store
            .put_record(&record_key(message_id), BEGUN, SEND_ATTEMPT_TTL)
            .await
            .map_err(unavailable)
    }

    async fn settle(&self, message_id: &str, outcome: Settled) {
        let key = record_key(message_id);
        let done = match outcome {
            Settled::Sent => self.store.put_record(&key, SENT, SEND_ATTEMPT_TTL).await,
            Settled::NotSent => self.store.remove_record(&key).await,
        };
        if let Err(err) = done {
            tracing::warn!(error = %err, ?outcome, "could not record how a send ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_store::MemoryStore;

    fn attempts() -> StoredSendAttempts {
        StoredSendAttempts::new(Arc::new(MemoryStore::new()))
    }

    /// A send begun and never settled is reported unsettled to the next one; begun again
    /// it stays so; once sent, later ones learn it was sent.
    #[tokio::test]
    async fn an_unsettled_send_is_reported_until_it_is_settled_sent() {
        let attempts = attempts();
        assert_eq!(attempts.begin("<a@x>").await.unwrap(), None);
        assert_eq!(
            attempts.begin("<a@x>").await.unwrap(),
            Some(EarlierAttempt::Unsettled)
        );
        attempts.begin_again("<a@x>").await.unwrap();
        assert_eq!(
            attempts.begin("<a@x>").await.unwrap(),
            Some(EarlierAttempt::Unsettled)
        );
        attempts.settle("<a@x>", Settled::Sent).await;
        assert_eq!(
            attempts.begin("<a@x>").await.unwrap(),
            Some(EarlierAttempt::Sent)
        );
        assert_eq!(attempts.begin("<b@x>").await.unwrap(), None, "per message");
    }

    /// A send refused before the SMTP server took it leaves no record: the retry begins.
    #[tokio::test]
    async fn a_send_not_sent_can_begin_again() {
        let attempts = attempts();
        assert_eq!(attempts.begin("<a@x>").await.unwrap(), None);
        attempts.settle("<a@x>", Settled::NotSent).await;
        assert_eq!(attempts.begin("<a@x>").await.unwrap(), None);
    }

    /// The record names no address: its key is a hash of the Message-ID.
    #[test]
    fn the_key_names_no_address() {
        let key = record_key("<k1.ada@example.test>");
        assert!(key.starts_with("send:"), "{key}");
        assert!(!key.contains("example"), "{key}");
    }
}
