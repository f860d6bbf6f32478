//! Attachment stores: where attachments read from mail are uploaded once and handed out
//! as signed, expiring URLs, and where sending reads them back. One [`AttachmentStore`]
//! interface, two backends chosen by configuration: [`LocalStore`] (files under the data
//! directory, links served by this server) and [`S3Store`] (any S3-compatible bucket,
//! presigned GET URLs). Stores never fetch a URL: [`AttachmentStore::resolve_url`] only
//! recognises URLs the store itself issued and turns them back into keys.
//!
//! This layer knows nothing of HTTP handlers or MCP; the HTTP side serves local links
//! through [`AttachmentStore::open_link`].
//!
//! # Layout
//! - [`key`]: [`AttachmentKey`], deterministic opaque object keys.
//! - [`naming`]: safe filenames, content types and `Content-Disposition`.
//! - [`link`]: signed, expiring local links.
//! - [`local`]: the embedded store and its expiry sweep.
//! - [`s3`]: the S3 store.

pub mod key;
pub mod link;
pub mod local;
pub mod naming;
pub mod s3;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

pub use key::{AttachmentKey, KEY_SUBKEY_LABEL, Owner, OwnerTag};
pub use link::{LINK_SUBKEY_LABEL, LinkSigner};
pub use local::{LocalStore, SweepReport, spawn_sweeper};
pub use s3::{S3Settings, S3Store, StaticCredentials};

/// The longest lifetime of an S3 presigned URL (7 days).
pub const MAX_PRESIGNED_TTL: Duration = Duration::from_secs(604_800);

/// A stream of an attachment's bytes, in chunks.
pub type ChunkStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What to store: bytes already in memory (never copied), or a stream of chunks (stored
/// without holding the whole attachment in memory).
pub enum AttachmentBody {
    Bytes(Bytes),
    Stream(ChunkStream),
}

impl From<Bytes> for AttachmentBody {
    fn from(bytes: Bytes) -> Self {
        AttachmentBody::Bytes(bytes)
    }
}

impl From<Vec<u8>> for AttachmentBody {
    fn from(bytes: Vec<u8>) -> Self {
        AttachmentBody::Bytes(Bytes::from(bytes))
    }
}

/// What a store knows about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Safe filename (see [`naming::safe_filename`]).
    pub filename: String,
    /// Safe `type/subtype` (see [`naming::safe_content_type`]); as stored, not as served.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// When the object was stored, when the store knows.
    pub created: Option<SystemTime>,
    /// When the store removes it, for stores that expire objects themselves (local).
    pub expires: Option<SystemTime>,
    /// Whom it was stored for; `None` for objects stored before owner tags (or without
    /// one), which no tool hands out (see [`check_owner`]).
    pub owner: Option<OwnerTag>,
}

/// A URL handed out for an object, and when it stops working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedUrl {
    pub url: String,
    pub expires_at: SystemTime,
}

/// An attachment to store: its bytes and what it claims to be (sanitised when stored).
pub struct NewAttachment {
    pub body: AttachmentBody,
    pub filename: String,
    pub content_type: String,
}

/// Why an attachment store operation failed (the shared store has its own
/// [`crate::shared_store::StoreError`]); every message can be shown to a person or a model.
/// Backend detail (paths, endpoints, SDK errors) is kept as the `source`, for logs only.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentStoreError {
    #[error(
        "no attachment is stored under this link or key (it may have expired and been removed); read the message again for a new link"
    )]
    NotFound,
    #[error("this attachment link has expired; read the message again for a new link")]
    LinkExpired,
    #[error("this attachment link is not valid: it was altered or not issued by this server")]
    LinkInvalid,
    #[error("the attachment is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error(
        "a link lifetime of {0:?} is not possible here (at least 1 second, at most 7 days for S3)"
    )]
    BadLifetime(Duration),
    #[error(
        "the attachment stored under this account's key is marked as another account's, so \
         the store was written to by someone else; it was neither handed out nor replaced. \
         Ask the operator to check the attachment store"
    )]
    NotOurs,
    #[error("the attachment store could not {operation}; try again later")]
    Backend {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AttachmentStoreError {
    /// A backend failure while doing `operation` ("store the attachment", ...).
    pub fn backend(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> AttachmentStoreError {
        AttachmentStoreError::Backend {
            operation,
            source: source.into(),
        }
    }
}

/// A place to keep attachments and hand out expiring URLs for them. Object-safe: the
/// application holds an `Arc<dyn AttachmentStore>`.
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Whether an object is stored (and not expired) under `key`.
    async fn exists(&self, key: &AttachmentKey) -> Result<bool, AttachmentStoreError>;

    /// What is stored under `key`, without reading its bytes; `None` when nothing is (or
    /// it expired). The default opens the object and drops the stream; stores override it
    /// with a cheaper lookup.
    async fn describe(
        &self,
        key: &AttachmentKey,
    ) -> Result<Option<ObjectInfo>, AttachmentStoreError> {
        match self.get(key).await {
            Ok((info, _)) => Ok(Some(info)),
            Err(AttachmentStoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `body` under `key` (replacing any object there) with a safe version of
    /// `filename` and `content_type`, and `owner`'s tag when given; returns what was stored.
    /// Callers that hand objects out use [`issue_url`], which never replaces another
    /// owner's object.
    async fn put_owned(
        &self,
        key: &AttachmentKey,
        owner: Option<&OwnerTag>,
        body: AttachmentBody,
        filename: &str,
        content_type: &str,
    ) -> Result<ObjectInfo, AttachmentStoreError>;

    /// [`AttachmentStore::put_owned`] without an owner tag (no tool hands such an object
    /// out).
    async fn put(
        &self,
        key: &AttachmentKey,
        body: AttachmentBody,
        filename: &str,
        content_type: &str,
    ) -> Result<ObjectInfo, AttachmentStoreError> {
        self.put_owned(key, None, body, filename, content_type)
            .await
    }

    /// The object's description and a stream of its bytes; [`AttachmentStoreError::NotFound`] when
    /// there is none.
    async fn get(
        &self,
        key: &AttachmentKey,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError>;

    /// A signed URL for the object that expires no later than `ttl` from now.
    async fn url(
        &self,
        key: &AttachmentKey,
        ttl: Duration,
    ) -> Result<IssuedUrl, AttachmentStoreError>;

    /// The key behind a URL this store issued: `Ok(None)` for any URL that is not ours
    /// (another host, another bucket, anything else), an error for one of ours that is
    /// expired or altered. Never makes a request.
    fn resolve_url(&self, url: &str) -> Result<Option<AttachmentKey>, AttachmentStoreError>;

    /// Checks the signature of a URL [`AttachmentStore::resolve_url`] accepted, where
    /// that takes more than parsing (S3: signed again and compared, so edited query values
    /// are [`AttachmentStoreError::LinkInvalid`]). Stores whose `resolve_url` already verifies a MAC
    /// (local links) keep this default.
    async fn verify_issued(&self, url: &str) -> Result<(), AttachmentStoreError> {
        let _ = url;
        Ok(())
    }

    /// The object behind a signed local link (the last segment of
    /// `BASE_URL/attachments/<signed_link>`). Stores without local links answer NotFound.
    async fn open_link(
        &self,
        signed_link: &str,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
        let _ = signed_link;
        Err(AttachmentStoreError::NotFound)
    }

    /// The whole object in memory, refused before reading when it is larger than `limit`.
    async fn read_all(
        &self,
        key: &AttachmentKey,
        limit: u64,
    ) -> Result<(ObjectInfo, Bytes), AttachmentStoreError> {
        let (info, stream) = self.get(key).await?;
        if info.size > limit {
            return Err(AttachmentStoreError::TooLarge {
                size: info.size,
                limit,
            });
        }
        let bytes = collect_limited(stream, info.size, limit).await?;
        Ok((info, bytes))
    }

    /// [`AttachmentStore::read_all`] of an object stored for `owner` only:
    /// [`AttachmentStoreError::NotOurs`], before any byte is read, when its tag is another's or
    /// missing.
    async fn read_all_owned(
        &self,
        key: &AttachmentKey,
        owner: &OwnerTag,
        limit: u64,
    ) -> Result<(ObjectInfo, Bytes), AttachmentStoreError> {
        let (info, stream) = self.get(key).await?;
        if !check_owner(&info, key, owner).unwrap_or(false) {
            return Err(AttachmentStoreError::NotOurs);
        }
        if info.size > limit {
            return Err(AttachmentStoreError::TooLarge {
                size: info.size,
                limit,
            });
        }
        let bytes = collect_limited(stream, info.size, limit).await?;
        Ok((info, bytes))
    }
}

/// Whether the object described by `info` (stored under `key`, a key of `owner`'s) is
/// `owner`'s: `Ok(true)` when its tag is theirs; `Ok(false)` when it has none (stored
/// before owner tags): not handed out, but it may be fetched again and replaced;
/// [`AttachmentStoreError::NotOurs`], logged as a warning, when it carries another owner's tag.
pub fn check_owner(
    info: &ObjectInfo,
    key: &AttachmentKey,
    owner: &OwnerTag,
) -> Result<bool, AttachmentStoreError> {
    match &info.owner {
        Some(stored) if owner.matches(stored) => Ok(true),
        None => Ok(false),
        Some(_) => {
            tracing::warn!(
                account = key.account_tag(),
                "an attachment under this account's key carries another owner's tag; refused"
            );
            Err(AttachmentStoreError::NotOurs)
        }
    }
}

/// A URL handed out for a stored attachment, what the store holds, and whether the call
/// that made it uploaded the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub url: IssuedUrl,
    pub info: ObjectInfo,
    pub uploaded: bool,
}

/// A URL for the attachment under `key` (a key of `owner`'s), uploading it first, tagged
/// with `owner`, when the store does not have it as `owner`'s: `fetch` runs only then (and
/// again if the object vanished between the check and the URL, e.g. swept). An object
/// without a tag is fetched again and replaced; one with another owner's tag is refused
/// ([`check_owner`]). Returns the URL and whether this call uploaded.
pub async fn url_for<E, F, Fut>(
    store: &dyn AttachmentStore,
    key: &AttachmentKey,
    owner: &OwnerTag,
    ttl: Duration,
    fetch: F,
) -> Result<(IssuedUrl, bool), E>
where
    E: From<AttachmentStoreError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<NewAttachment, E>>,
{
    let issued = issue_url(store, key, owner, ttl, fetch).await?;
    Ok((issued.url, issued.uploaded))
}

/// [`url_for`], also returning the stored object's description (name, type, size).
pub async fn issue_url<E, F, Fut>(
    store: &dyn AttachmentStore,
    key: &AttachmentKey,
    owner: &OwnerTag,
    ttl: Duration,
    fetch: F,
) -> Result<Issued, E>
where
    E: From<AttachmentStoreError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<NewAttachment, E>>,
{
    if let Some(issued) = stored_url(store, key, owner, ttl).await? {
        return Ok(issued);
    }
    let new = fetch().await?;
    let info = store
        .put_owned(key, Some(owner), new.body, &new.filename, &new.content_type)
        .await?;
    Ok(Issued {
        url: store.url(key, ttl).await?,
        info,
        uploaded: true,
    })
}

/// A URL for the object under `key` when the store has it as `owner`'s; `None` when it
/// has none or one without a tag (to be fetched again), [`AttachmentStoreError::NotOurs`] when the
/// object carries another owner's tag ([`check_owner`]).
pub async fn stored_url(
    store: &dyn AttachmentStore,
    key: &AttachmentKey,
    owner: &OwnerTag,
    ttl: Duration,
) -> Result<Option<Issued>, AttachmentStoreError> {
    let Some(info) = store.describe(key).await? else {
        return Ok(None);
    };
    if !check_owner(&info, key, owner)? {
        return Ok(None);
    }
    match store.url(key, ttl).await {
        Ok(url) => Ok(Some(Issued {
            url,
            info,
            uploaded: false,
        })),
        Err(AttachmentStoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why [`put_pieces`] stored nothing: its source failed (that error wins) or the store did.
#[derive(Debug)]
pub enum PiecesError<E> {
    Source(E),
    Store(AttachmentStoreError),
}

/// Stores, tagged with `owner`, the pieces of a source that borrows something (a mail
/// session) and so cannot be a [`ChunkStream`]: the pieces pass through a channel of one
/// piece into [`AttachmentStore::put_owned`] as they come, so at most a piece or two are
/// in memory besides what the store buffers (one S3 part). A failing source makes the
/// store drop what it wrote (nothing replaces the object) and its error is returned; a
/// failing store ends the channel, so the source is not read further and the store's
/// error is returned. Neither side waits for the other once one has failed.
pub async fn put_pieces<S, E>(
    store: &dyn AttachmentStore,
    key: &AttachmentKey,
    owner: &OwnerTag,
    pieces: S,
    filename: &str,
    content_type: &str,
) -> Result<ObjectInfo, PiecesError<E>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(1);
    // `poll_recv` keeps answering `None` once the channel is closed and empty, so a store
    // that asks again after the end is not a problem.
    let body: ChunkStream = Box::pin(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)));
    let produce = async move {
        futures::pin_mut!(pieces);
        while let Some(piece) = pieces.next().await {
            let (item, failure) = match piece {
                Ok(bytes) => (Ok(bytes), None),
                Err(e) => (
                    Err(io::Error::other(
                        "the attachment could not be read from its source",
                    )),
                    Some(e),
                ),
            };
            // A closed channel: the store stopped (it failed); its error is the answer.
            let store_gone = sender.send(item).await.is_err();
            if let Some(e) = failure {
                return Err(e);
            }
            if store_gone {
                return Ok(());
            }
        }
        Ok(())
    };
    let stored = store.put_owned(
        key,
        Some(owner),
        AttachmentBody::Stream(body),
        filename,
        content_type,
    );
    let (produced, stored) = futures::join!(produce, stored);
    produced.map_err(PiecesError::Source)?;
    stored.map_err(PiecesError::Store)
}

/// Reads a stream of an expected `size` into one buffer, failing past `limit`.
async fn collect_limited(
    mut stream: ChunkStream,
    size: u64,
    limit: u64,
) -> Result<Bytes, AttachmentStoreError> {
    let mut buffer = BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AttachmentStoreError::backend("read the attachment", e))?;
        let total = (buffer.len() + chunk.len()) as u64;
        if total > limit {
            return Err(AttachmentStoreError::TooLarge { size: total, limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The time `seconds` after the Unix epoch.
pub(crate) fn from_unix_seconds(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: &[&'static [u8]]) -> ChunkStream {
        let items: Vec<io::Result<Bytes>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures::stream::iter(items))
    }

    #[tokio::test]
    async fn collecting_stops_at_the_limit_and_names_the_sizes() {
        let bytes = collect_limited(stream_of(&[b"abc", b"def"]), 6, 6)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"abcdef");
        let err = collect_limited(stream_of(&[b"abc", b"def"]), 3, 4)
            .await
            .unwrap_err();
        assert!(
            matches!(err, AttachmentStoreError::TooLarge { size: 6, limit: 4 }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the attachment is 6 bytes, over the limit of 4 bytes"
        );
    }

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store that reads what it is given slowly, counting the bytes it has taken; it
    /// fails once it has taken `fail_after` bytes, when set (an S3 part refused).
    struct CountingStore {
        taken: Arc<AtomicUsize>,
        fail_after: Option<usize>,
    }

    #[async_trait]
    impl AttachmentStore for CountingStore {
        async fn exists(&self, _: &AttachmentKey) -> Result<bool, AttachmentStoreError> {
            Ok(false)
        }
        async fn put_owned(
            &self,
            _: &AttachmentKey,
            owner: Option<&OwnerTag>,
            body: AttachmentBody,
            filename: &str,
            content_type: &str,
        ) -> Result<ObjectInfo, AttachmentStoreError> {
            let AttachmentBody::Stream(mut stream) = body else {
                unreachable!("put_pieces streams");
            };
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| AttachmentStoreError::backend("read", e))?;
                let taken = self.taken.fetch_add(chunk.len(), Ordering::SeqCst) + chunk.len();
                tokio::task::yield_now().await;
                if self.fail_after.is_some_and(|limit| taken >= limit) {
                    return Err(AttachmentStoreError::backend("upload a part", "refused"));
                }
            }
            // Asked again after the end: must not panic or hang.
            assert!(stream.next().await.is_none());
            Ok(ObjectInfo {
                filename: filename.into(),
                content_type: content_type.into(),
                size: self.taken.load(Ordering::SeqCst) as u64,
                created: None,
                expires: None,
                owner: owner.cloned(),
            })
        }
        async fn get(
            &self,
            _: &AttachmentKey,
        ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
            Err(AttachmentStoreError::NotFound)
        }
        async fn url(
            &self,
            _: &AttachmentKey,
            _: Duration,
        ) -> Result<IssuedUrl, AttachmentStoreError> {
            Err(AttachmentStoreError::NotFound)
        }
        fn resolve_url(&self, _: &str) -> Result<Option<AttachmentKey>, AttachmentStoreError> {
            Ok(None)
        }
    }

    const PIECE: usize = 64 * 1024;

    /// `count` pieces of [`PIECE`] bytes, counting in `made` the bytes handed out; checks,
    /// as each piece is made, that the store has taken all but at most two pieces of what
    /// was made before (one in the channel, one just made).
    fn counted_pieces(
        count: usize,
        made: Arc<AtomicUsize>,
        taken: Arc<AtomicUsize>,
        most_ahead: Arc<AtomicUsize>,
    ) -> impl Stream<Item = Result<Bytes, &'static str>> {
        futures::stream::iter(0..count).map(move |_| {
            let made = made.fetch_add(PIECE, Ordering::SeqCst) + PIECE;
            let ahead = made - taken.load(Ordering::SeqCst);
            most_ahead.fetch_max(ahead, Ordering::SeqCst);
            Ok(Bytes::from(vec![1u8; PIECE]))
        })
    }

    fn sample_key() -> (AttachmentKey, OwnerTag) {
        let subkey = [9u8; 32];
        let owner = Owner {
            imap_host: "imap.example.org",
            imap_port: 993,
            username: "alice",
        };
        (
            AttachmentKey::derive(&subkey, &owner, "INBOX", 1, 1, "2"),
            OwnerTag::derive(&subkey, &owner),
        )
    }

    /// 200 pieces (12.5 MiB) pass through `put_pieces` with never more than two pieces
    /// made and not yet taken by the store: memory held is bounded by the piece size, not
    /// by the attachment's.
    #[tokio::test]
    async fn pieces_in_flight_never_exceed_two() {
        let (made, taken, most_ahead) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let store = CountingStore {
            taken: Arc::clone(&taken),
            fail_after: None,
        };
        let pieces = counted_pieces(200, made.clone(), taken.clone(), most_ahead.clone());
        let (key, owner) = sample_key();
        let info = put_pieces(&store, &key, &owner, pieces, "big.bin", "application/x")
            .await
            .unwrap();
        assert_eq!(info.size, 200 * PIECE as u64);
        let most = most_ahead.load(Ordering::SeqCst);
        assert!(most <= 2 * PIECE, "{most} bytes were in flight at once");
    }

    /// A store that fails after three pieces ends the upload with its own error, and the
    /// source is read at most two pieces further (never to its end), without a hang.
    #[tokio::test]
    async fn a_failing_store_stops_the_source_with_its_error() {
        let (made, taken, most_ahead) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let store = CountingStore {
            taken: Arc::clone(&taken),
            fail_after: Some(3 * PIECE),
        };
        let pieces = counted_pieces(1000, made.clone(), taken.clone(), most_ahead);
        let (key, owner) = sample_key();
        let stored = put_pieces(&store, &key, &owner, pieces, "big.bin", "application/x");
        let err = tokio::time::timeout(Duration::from_secs(10), stored)
            .await
            .expect("no hang")
            .unwrap_err();
        assert!(
            matches!(&err, PiecesError::Store(AttachmentStoreError::Backend { operation, .. }) if *operation == "upload a part"),
            "{err:?}"
        );
        let made = made.load(Ordering::SeqCst);
        assert!(made <= 5 * PIECE, "the source was read on: {made} bytes");
    }

    /// A source that fails midway ends the upload with the source's error, and the store
    /// sees an error (so it keeps nothing) rather than a short, complete-looking file.
    #[tokio::test]
    async fn a_failing_source_ends_the_store_with_the_source_error() {
        let taken = Arc::new(AtomicUsize::new(0));
        let store = CountingStore {
            taken: Arc::clone(&taken),
            fail_after: None,
        };
        let pieces: Vec<Result<Bytes, &str>> =
            vec![Ok(Bytes::from_static(b"abc")), Err("over the read limit")];
        let (key, owner) = sample_key();
        let stored = put_pieces(
            &store,
            &key,
            &owner,
            futures::stream::iter(pieces),
            "a",
            "b/c",
        );
        let err = tokio::time::timeout(Duration::from_secs(10), stored)
            .await
            .expect("no hang")
            .unwrap_err();
        assert!(
            matches!(err, PiecesError::Source("over the read limit")),
            "{err:?}"
        );
        assert_eq!(taken.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn unix_seconds_round_trip_and_clamp_before_the_epoch() {
        assert_eq!(
            unix_seconds(from_unix_seconds(1_700_000_000)),
            1_700_000_000
        );
        assert_eq!(
            unix_seconds(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            0
        );
    }
}
