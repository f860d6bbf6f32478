//! The embedded store (the default, nothing to set up): one file per attachment under
//! `DATA_DIR/attachments/<account tag>/`, its description in a JSON file beside it, and
//! links `BASE_URL/attachments/<signed_link>` served by this server, where the signed
//! link is a reference to the key with an expiry ([`LinkSigner`]). Every object has an
//! expiry too, pushed forward whenever a link outlives it; [`LocalStore::sweep_once`]
//! removes expired objects and leftovers of interrupted writes, and [`spawn_sweeper`]
//! runs it periodically until shutdown.
//!
//! The description file also holds the object's owner tag ([`OwnerTag`], validated when
//! read: anything but the exact shape counts as no tag).
//!
//! Files are written under a temporary name and renamed into place (data first, then the
//! description), so readers see an object whole or not at all; an open file keeps
//! streaming even if the sweep removes it meanwhile. Every method that depends on the
//! clock has an `_at(.., now)` twin, so expiry is tested without waiting.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::naming::{safe_content_type, safe_filename};
use super::{
    AttachmentBody, AttachmentKey, AttachmentStore, AttachmentStoreError, ChunkStream, IssuedUrl,
    LinkSigner, ObjectInfo, OwnerTag, from_unix_seconds, unix_seconds,
};

/// How long a temporary or orphaned file may exist before the sweep removes it.
const LEFTOVER_GRACE: Duration = Duration::from_secs(3600);
/// Read size when streaming a file out.
const READ_CHUNK_BYTES: usize = 64 * 1024;
const DATA_SUFFIX: &str = ".data";
const META_SUFFIX: &str = ".meta.json";
const TEMP_PREFIX: &str = ".tmp-";

/// The description stored beside each object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct MetaFile {
    filename: String,
    content_type: String,
    size: u64,
    /// Unix seconds.
    created: u64,
    /// Unix seconds; the sweep removes the object from then on.
    expires: u64,
    /// The owner tag ([`OwnerTag`]); absent in descriptions written before owner tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

impl MetaFile {
    fn info(&self, size: u64) -> ObjectInfo {
        ObjectInfo {
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size,
            created: Some(from_unix_seconds(self.created)),
            expires: Some(from_unix_seconds(self.expires)),
            owner: self.owner.as_deref().and_then(OwnerTag::parse),
        }
    }

    fn expired(&self, now: SystemTime) -> bool {
        unix_seconds(now) >= self.expires
    }
}

/// What one sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired (or unreadable) objects removed.
    pub expired: usize,
    /// Temporary and orphaned files of interrupted writes removed.
    pub leftovers: usize,
}

/// Files under a directory, links under `BASE_URL/attachments/`.
pub struct LocalStore {
    root: PathBuf,
    links: LinkSigner,
    /// `BASE_URL/attachments/`, parsed.
    link_base: Url,
    /// How long an object is kept when no link asks for longer.
    retention: Duration,
}

impl LocalStore {
    /// A store in `root` (created, mode 0700, if missing) whose links are
    /// `<base_url>/attachments/<signed_link>` signed by `links`; objects are kept `retention`
    /// after they are stored, or as long as the last link issued for them.
    pub fn new(
        root: PathBuf,
        links: LinkSigner,
        base_url: &str,
        retention: Duration,
    ) -> io::Result<LocalStore> {
        let link_base = Url::parse(&format!("{}/attachments/", base_url.trim_end_matches('/')))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("BASE_URL: {e}")))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        Ok(LocalStore {
            root,
            links,
            link_base,
            retention,
        })
    }

    /// The directory the store keeps its files in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// [`AttachmentStore::exists`] as of `now`.
    pub async fn exists_at(
        &self,
        key: &AttachmentKey,
        now: SystemTime,
    ) -> Result<bool, AttachmentStoreError> {
        let meta = self.read_meta(key).await?;
        let data_present = tokio::fs::try_exists(self.data_path(key))
            .await
            .map_err(|e| AttachmentStoreError::backend("look up the attachment", e))?;
        Ok(meta.is_some_and(|m| !m.expired(now)) && data_present)
    }

    /// [`AttachmentStore::describe`] as of `now`: the description, with the size of the
    /// data file, of an object that is not expired.
    pub async fn describe_at(
        &self,
        key: &AttachmentKey,
        now: SystemTime,
    ) -> Result<Option<ObjectInfo>, AttachmentStoreError> {
        let Some(meta) = self.read_meta(key).await?.filter(|m| !m.expired(now)) else {
            return Ok(None);
        };
        match tokio::fs::metadata(self.data_path(key)).await {
            Ok(data) => Ok(Some(meta.info(data.len()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AttachmentStoreError::backend("look up the attachment", e)),
        }
    }

    /// [`AttachmentStore::put`] as of `now`.
    pub async fn put_at(
        &self,
        key: &AttachmentKey,
        body: AttachmentBody,
        filename: &str,
        content_type: &str,
        now: SystemTime,
    ) -> Result<ObjectInfo, AttachmentStoreError> {
        self.put_owned_at(key, None, body, filename, content_type, now)
            .await
    }

    /// [`AttachmentStore::put_owned`] as of `now`: the tag goes into the description file.
    pub async fn put_owned_at(
        &self,
        key: &AttachmentKey,
        owner: Option<&OwnerTag>,
        body: AttachmentBody,
        filename: &str,
        content_type: &str,
        now: SystemTime,
    ) -> Result<ObjectInfo, AttachmentStoreError> {
        let fail = |e| AttachmentStoreError::backend("store the attachment", e);
        let dir = self.root.join(key.account_tag());
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .await
            .map_err(fail)?;
        let size = self.write_data(&dir, key, body).await.map_err(fail)?;
        let meta = MetaFile {
            filename: safe_filename(filename),
            content_type: safe_content_type(content_type),
            size,
            created: unix_seconds(now),
            expires: unix_seconds(now + self.retention),
            owner: owner.map(|tag| tag.as_str().to_string()),
        };
        self.write_meta(key, &meta).await.map_err(fail)?;
        Ok(meta.info(size))
    }

    /// [`AttachmentStore::get`] as of `now`.
    pub async fn get_at(
        &self,
        key: &AttachmentKey,
        now: SystemTime,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
        let meta = self
            .read_meta(key)
            .await?
            .ok_or(AttachmentStoreError::NotFound)?;
        if meta.expired(now) {
            return Err(AttachmentStoreError::NotFound);
        }
        let file = match tokio::fs::File::open(self.data_path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(AttachmentStoreError::NotFound);
            }
            Err(e) => return Err(AttachmentStoreError::backend("read the attachment", e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(|e| AttachmentStoreError::backend("read the attachment", e))?
            .len();
        let stream = ReaderStream::with_capacity(file, READ_CHUNK_BYTES);
        Ok((meta.info(size), Box::pin(stream)))
    }

    /// [`AttachmentStore::url`] as of `now`: a link that expires `ttl` after `now`
    /// (rounded down to the second); the object is kept at least that long.
    pub async fn url_at(
        &self,
        key: &AttachmentKey,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedUrl, AttachmentStoreError> {
        if ttl < Duration::from_secs(1) {
            return Err(AttachmentStoreError::BadLifetime(ttl));
        }
        let mut meta = self
            .read_meta(key)
            .await?
            .ok_or(AttachmentStoreError::NotFound)?;
        if meta.expired(now) {
            return Err(AttachmentStoreError::NotFound);
        }
        let expires = unix_seconds(now + ttl);
        if meta.expires < expires {
            meta.expires = expires;
            self.write_meta(key, &meta)
                .await
                .map_err(|e| AttachmentStoreError::backend("store the attachment", e))?;
        }
        let signed_link = self.links.sign(key, expires);
        Ok(IssuedUrl {
            url: format!("{}{signed_link}", self.link_base),
            expires_at: from_unix_seconds(expires),
        })
    }

    /// [`AttachmentStore::resolve_url`] as of `now`.
    pub fn resolve_url_at(
        &self,
        url: &str,
        now: SystemTime,
    ) -> Result<Option<AttachmentKey>, AttachmentStoreError> {
        match self.signed_link_of(url) {
            Some(signed_link) => self.links.verify(&signed_link, unix_seconds(now)).map(Some),
            None => Ok(None),
        }
    }

    /// [`AttachmentStore::open_link`] as of `now`.
    pub async fn open_link_at(
        &self,
        signed_link: &str,
        now: SystemTime,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
        let key = self.links.verify(signed_link, unix_seconds(now))?;
        self.get_at(&key, now).await
    }

    /// Removes every object expired at `now`, and temporary or orphaned files older than
    /// an hour. Problems with single files are logged and skipped.
    pub async fn sweep_once(&self, now: SystemTime) -> Result<SweepReport, AttachmentStoreError> {
        let mut report = SweepReport::default();
        let mut accounts = match tokio::fs::read_dir(&self.root).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(AttachmentStoreError::backend("list stored attachments", e)),
        };
        while let Some(entry) = accounts
            .next_entry()
            .await
            .map_err(|e| AttachmentStoreError::backend("list stored attachments", e))?
        {
            if entry.file_type().await.is_ok_and(|t| t.is_dir())
                && let Err(e) = sweep_dir(&entry.path(), now, &mut report).await
            {
                tracing::warn!(dir = %entry.path().display(), error = %e, "attachment sweep skipped a directory");
            }
        }
        Ok(report)
    }

    /// The signed link of a URL under our link base, `None` for any other URL.
    fn signed_link_of(&self, text: &str) -> Option<String> {
        let url = Url::parse(text).ok()?;
        let base = &self.link_base;
        let same_origin = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none();
        if !same_origin {
            return None;
        }
        url.path().strip_prefix(base.path()).map(str::to_string)
    }

    fn data_path(&self, key: &AttachmentKey) -> PathBuf {
        self.root
            .join(key.account_tag())
            .join(format!("{}{DATA_SUFFIX}", key.object_name()))
    }

    fn meta_path(&self, key: &AttachmentKey) -> PathBuf {
        self.root
            .join(key.account_tag())
            .join(format!("{}{META_SUFFIX}", key.object_name()))
    }

    /// The description, `None` when absent or unreadable.
    async fn read_meta(
        &self,
        key: &AttachmentKey,
    ) -> Result<Option<MetaFile>, AttachmentStoreError> {
        match tokio::fs::read(self.meta_path(key)).await {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AttachmentStoreError::backend("look up the attachment", e)),
        }
    }

    async fn write_meta(&self, key: &AttachmentKey, meta: &MetaFile) -> io::Result<()> {
        let path = self.meta_path(key);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        let temp = temp_path(&dir);
        let written = async {
            let mut file = private_file(&temp).await?;
            file.write_all(&json).await?;
            file.flush().await?;
            tokio::fs::rename(&temp, &path).await
        };
        remove_on_error(written.await, &temp).await
    }

    /// Writes the bytes to a temporary file and renames it into place; returns the size.
    async fn write_data(
        &self,
        dir: &Path,
        key: &AttachmentKey,
        body: AttachmentBody,
    ) -> io::Result<u64> {
        let temp = temp_path(dir);
        let written = async {
            let size = match body {
                AttachmentBody::Bytes(bytes) => write_bytes(temp.clone(), bytes).await?,
                AttachmentBody::Stream(stream) => write_stream(&temp, stream).await?,
            };
            tokio::fs::rename(&temp, self.data_path(key)).await?;
            Ok(size)
        };
        remove_on_error(written.await, &temp).await
    }
}

#[async_trait]
impl AttachmentStore for LocalStore {
    async fn exists(&self, key: &AttachmentKey) -> Result<bool, AttachmentStoreError> {
        self.exists_at(key, SystemTime::now()).await
    }

    async fn describe(
        &self,
        key: &AttachmentKey,
    ) -> Result<Option<ObjectInfo>, AttachmentStoreError> {
        self.describe_at(key, SystemTime::now()).await
    }

    async fn put_owned(
        &self,
        key: &AttachmentKey,
        owner: Option<&OwnerTag>,
        body: AttachmentBody,
        filename: &str,
        content_type: &str,
    ) -> Result<ObjectInfo, AttachmentStoreError> {
        self.put_owned_at(key, owner, body, filename, content_type, SystemTime::now())
            .await
    }

    async fn get(
        &self,
        key: &AttachmentKey,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
        self.get_at(key, SystemTime::now()).await
    }

    async fn url(
        &self,
        key: &AttachmentKey,
        ttl: Duration,
    ) -> Result<IssuedUrl, AttachmentStoreError> {
        self.url_at(key, ttl, SystemTime::now()).await
    }

    fn resolve_url(&self, url: &str) -> Result<Option<AttachmentKey>, AttachmentStoreError> {
        self.resolve_url_at(url, SystemTime::now())
    }

    async fn open_link(
        &self,
        signed_link: &str,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
        self.open_link_at(signed_link, SystemTime::now()).await
    }
}

/// Runs [`LocalStore::sweep_once`] now and then every `every`, until `shutdown`.
pub fn spawn_sweeper(
    store: Arc<LocalStore>,
    every: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match store.sweep_once(SystemTime::now()).await {
                Ok(report) if report != SweepReport::default() => {
                    tracing::info!(
                        expired = report.expired,
                        leftovers = report.leftovers,
                        "attachment sweep removed files"
                    );
                }
                Ok(_) => tracing::debug!("attachment sweep found nothing to remove"),
                Err(e) => {
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "attachment sweep failed")
                }
            }
        }
    })
}

/// Sweeps one account directory.
async fn sweep_dir(dir: &Path, now: SystemTime, report: &mut SweepReport) -> io::Result<()> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if let Some(object) = name.strip_suffix(META_SUFFIX) {
            if meta_expired(&path, now).await {
                remove_if_present(&path).await?;
                remove_if_present(&dir.join(format!("{object}{DATA_SUFFIX}"))).await?;
                report.expired += 1;
            }
        } else if is_leftover(dir, &name, &path, now).await {
            remove_if_present(&path).await?;
            report.leftovers += 1;
        }
    }
    Ok(())
}

/// Whether a description file says its object is expired (or cannot be read at all).
async fn meta_expired(path: &Path, now: SystemTime) -> bool {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice::<MetaFile>(&bytes).map_or(true, |m| m.expired(now)),
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

/// A temporary file, or a data file without description, older than the grace period.
async fn is_leftover(dir: &Path, name: &str, path: &Path, now: SystemTime) -> bool {
    let orphan = match name.strip_suffix(DATA_SUFFIX) {
        Some(object) => !dir.join(format!("{object}{META_SUFFIX}")).exists(),
        None => name.starts_with(TEMP_PREFIX),
    };
    if !orphan {
        return false;
    }
    let modified = tokio::fs::metadata(path).await.and_then(|m| m.modified());
    modified.is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age > LEFTOVER_GRACE))
}

fn temp_path(dir: &Path) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()))
}

/// A new file readable by the owner only.
async fn private_file(path: &Path) -> io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
}

/// Writes bytes already in memory on a blocking thread, without copying them.
async fn write_bytes(path: PathBuf, bytes: bytes::Bytes) -> io::Result<u64> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&bytes)?;
        file.flush()?;
        Ok(bytes.len() as u64)
    })
    .await
    .map_err(io::Error::other)?
}

/// Writes a stream chunk by chunk; only one chunk is in memory at a time.
async fn write_stream(path: &Path, mut stream: ChunkStream) -> io::Result<u64> {
    let mut file = private_file(path).await?;
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        file.write_all(&chunk).await?;
        size += chunk.len() as u64;
    }
    file.flush().await?;
    Ok(size)
}

async fn remove_if_present(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Passes `result` through, removing the temporary file first when it failed.
async fn remove_on_error<T>(result: io::Result<T>, temp: &Path) -> io::Result<T> {
    if result.is_err() {
        let _ = tokio::fs::remove_file(temp).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachments::{NewAttachment, url_for};

    fn temp_root() -> PathBuf {
        std::env::temp_dir().join(format!("mail_mcp-local-{}", uuid::Uuid::new_v4()))
    }

    fn store() -> LocalStore {
        LocalStore::new(
            temp_root(),
            LinkSigner::new([5; 32]),
            "https://mail.example.test/prefix/",
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    fn key(uid: u32) -> AttachmentKey {
        AttachmentKey::derive(
            &[1; 32],
            &crate::attachments::key::tests_owner("a"),
            "INBOX",
            1,
            uid,
            "2",
        )
    }

    fn tag(username: &'static str) -> OwnerTag {
        OwnerTag::derive(&[1; 32], &crate::attachments::key::tests_owner(username))
    }

    fn at(seconds: u64) -> SystemTime {
        from_unix_seconds(1_700_000_000 + seconds)
    }

    #[tokio::test]
    async fn links_live_under_the_base_url_and_resolve_back_to_their_key() {
        let store = store();
        store
            .put_at(
                &key(1),
                b"hello".to_vec().into(),
                "a.txt",
                "text/plain",
                at(0),
            )
            .await
            .unwrap();
        let issued = store
            .url_at(&key(1), Duration::from_secs(60), at(0))
            .await
            .unwrap();
        assert!(
            issued
                .url
                .starts_with("https://mail.example.test/prefix/attachments/")
        );
        assert_eq!(issued.expires_at, at(60));
        assert_eq!(
            store.resolve_url_at(&issued.url, at(59)).unwrap(),
            Some(key(1))
        );
        assert!(matches!(
            store.resolve_url_at(&issued.url, at(60)),
            Err(AttachmentStoreError::LinkExpired)
        ));
        let signed_link = issued.url.rsplit('/').next().unwrap();
        let foreign = [
            format!("https://other.example.test/prefix/attachments/{signed_link}"),
            format!("http://mail.example.test/prefix/attachments/{signed_link}"),
            format!("https://mail.example.test:8443/prefix/attachments/{signed_link}"),
            format!("https://mail.example.test/attachments/{signed_link}"),
            format!("https://user@mail.example.test/prefix/attachments/{signed_link}"),
            "http://169.254.169.254/latest/meta-data".to_string(),
            "not a url".to_string(),
        ];
        for url in foreign {
            assert_eq!(store.resolve_url_at(&url, at(1)).unwrap(), None, "{url}");
        }
        let altered = format!("{}x", issued.url);
        assert!(matches!(
            store.resolve_url_at(&altered, at(1)),
            Err(AttachmentStoreError::LinkInvalid)
        ));
    }

    #[tokio::test]
    async fn a_link_keeps_its_object_at_least_as_long_as_itself() {
        let store = store();
        store
            .put_at(&key(1), b"x".to_vec().into(), "a.txt", "text/plain", at(0))
            .await
            .unwrap();
        store
            .url_at(&key(1), Duration::from_secs(7200), at(0))
            .await
            .unwrap();
        let report = store.sweep_once(at(3601)).await.unwrap();
        assert_eq!(report, SweepReport::default(), "the link still needs it");
        assert!(store.exists_at(&key(1), at(7199)).await.unwrap());
        assert!(!store.exists_at(&key(1), at(7200)).await.unwrap());
        let report = store.sweep_once(at(7200)).await.unwrap();
        assert_eq!(report.expired, 1);
        assert!(!store.data_path(&key(1)).exists() && !store.meta_path(&key(1)).exists());
    }

    #[tokio::test]
    async fn url_for_uploads_once_and_again_only_after_the_object_is_swept() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let store = store();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::Relaxed);
            Ok::<_, AttachmentStoreError>(NewAttachment {
                body: b"x".to_vec().into(),
                filename: "a.txt".into(),
                content_type: "text/plain".into(),
            })
        };
        let ttl = Duration::from_secs(60);
        let uploads = [
            url_for(&store, &key(1), &tag("a"), ttl, fetch)
                .await
                .unwrap()
                .1,
            url_for(&store, &key(1), &tag("a"), ttl, fetch)
                .await
                .unwrap()
                .1,
        ];
        assert_eq!(uploads, [true, false]);
        assert_eq!(
            fetches.load(Ordering::Relaxed),
            1,
            "the second read reuses the object"
        );
        let far = SystemTime::now() + Duration::from_secs(86_400);
        assert_eq!(store.sweep_once(far).await.unwrap().expired, 1);
        let (url, uploaded) = url_for(&store, &key(1), &tag("a"), ttl, fetch)
            .await
            .unwrap();
        assert!(uploaded && fetches.load(Ordering::Relaxed) == 2);
        assert_eq!(store.resolve_url(&url.url).unwrap(), Some(key(1)));
    }

    /// The owner tag is kept in the description (also when a link extends it), and
    /// `url_for` hands out only an object with the caller's tag: one without a tag (stored
    /// before owner tags) is fetched again and replaced, one with another owner's tag is
    /// refused and left as it is; a malformed stored tag counts as none.
    #[tokio::test]
    async fn url_for_replaces_untagged_objects_and_refuses_another_owners() {
        let store = store();
        let ttl = Duration::from_secs(60);
        let fetch = || async {
            Ok::<_, AttachmentStoreError>(NewAttachment {
                body: b"fresh".to_vec().into(),
                filename: "a.txt".into(),
                content_type: "text/plain".into(),
            })
        };
        store
            .put(&key(1), b"untagged".to_vec().into(), "a.txt", "text/plain")
            .await
            .unwrap();
        let (_, uploaded) = url_for(&store, &key(1), &tag("a"), ttl, fetch)
            .await
            .unwrap();
        assert!(uploaded, "an untagged object is fetched again");
        let (info, bytes) = store.read_all_owned(&key(1), &tag("a"), 100).await.unwrap();
        assert_eq!((&bytes[..], info.owner), (&b"fresh"[..], Some(tag("a"))));
        store
            .url_at(&key(1), Duration::from_secs(7200), SystemTime::now())
            .await
            .unwrap();
        assert_eq!(
            store.describe(&key(1)).await.unwrap().unwrap().owner,
            Some(tag("a"))
        );

        store
            .put_owned(
                &key(2),
                Some(&tag("b")),
                b"planted".to_vec().into(),
                "p.txt",
                "text/plain",
            )
            .await
            .unwrap();
        let refused = url_for(&store, &key(2), &tag("a"), ttl, fetch).await;
        assert!(
            matches!(refused, Err(AttachmentStoreError::NotOurs)),
            "{refused:?}"
        );
        assert!(matches!(
            store.read_all_owned(&key(2), &tag("a"), 100).await,
            Err(AttachmentStoreError::NotOurs)
        ));
        let (_, kept) = store.read_all(&key(2), 100).await.unwrap();
        assert_eq!(
            &kept[..],
            b"planted",
            "another owner's object is not replaced"
        );

        let meta = store.meta_path(&key(2));
        let json = std::fs::read_to_string(&meta).unwrap();
        std::fs::write(&meta, json.replace(tag("b").as_str(), "../../x")).unwrap();
        assert_eq!(store.describe(&key(2)).await.unwrap().unwrap().owner, None);
    }

    /// `put_pieces` stores pieces in order as they come, tagged; a source that fails
    /// midway stores nothing (the earlier object stays, no temporary file is left) and its
    /// own error comes back.
    #[tokio::test]
    async fn pieces_are_stored_in_order_and_a_failing_source_replaces_nothing() {
        use crate::attachments::{PiecesError, put_pieces};
        let store = store();
        let pieces: Vec<Result<bytes::Bytes, &str>> =
            vec![Ok("ab".into()), Ok(bytes::Bytes::new()), Ok("cde".into())];
        let info = put_pieces(
            &store,
            &key(1),
            &tag("a"),
            futures::stream::iter(pieces),
            "a.txt",
            "text/plain",
        )
        .await
        .unwrap();
        assert_eq!((info.size, info.owner.clone()), (5, Some(tag("a"))));
        let (_, bytes) = store.read_all_owned(&key(1), &tag("a"), 100).await.unwrap();
        assert_eq!(&bytes[..], b"abcde");

        let failing: Vec<Result<bytes::Bytes, &str>> = vec![
            Ok("xy".into()),
            Err("the mailbox went away"),
            Ok("z".into()),
        ];
        let err = put_pieces(
            &store,
            &key(1),
            &tag("a"),
            futures::stream::iter(failing),
            "b.txt",
            "text/plain",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, PiecesError::Source("the mailbox went away")),
            "{err:?}"
        );
        let (_, bytes) = store.read_all_owned(&key(1), &tag("a"), 100).await.unwrap();
        assert_eq!(&bytes[..], b"abcde", "the earlier object is untouched");
        let dir = store.root().join(key(1).account_tag());
        let names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with(TEMP_PREFIX)),
            "{names:?}"
        );
    }

    #[tokio::test]
    async fn sweep_removes_old_leftovers_but_not_fresh_ones() {
        let store = store();
        store
            .put_at(
                &key(1),
                b"x".to_vec().into(),
                "a.txt",
                "text/plain",
                SystemTime::now(),
            )
            .await
            .unwrap();
        let dir = store.root().join(key(1).account_tag());
        std::fs::write(dir.join(".tmp-interrupted"), b"partial").unwrap();
        std::fs::write(dir.join("orphan.data"), b"no description").unwrap();
        let now = SystemTime::now();
        assert_eq!(store.sweep_once(now).await.unwrap(), SweepReport::default());
        let later = now + LEFTOVER_GRACE + Duration::from_secs(1);
        let report = store.sweep_once(later).await.unwrap();
        assert_eq!(
            report,
            SweepReport {
                expired: 1,
                leftovers: 2
            }
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn stored_names_and_types_are_sanitised_and_streams_are_written_whole() {
        let store = store();
        let chunks: Vec<io::Result<bytes::Bytes>> =
            vec![Ok("ab".into()), Ok("cd".into()), Ok("e".into())];
        let body = AttachmentBody::Stream(Box::pin(futures::stream::iter(chunks)));
        let now = SystemTime::now();
        let info = store
            .put_at(&key(2), body, "../evil\n.html", "Text/HTML; x=y", now)
            .await
            .unwrap();
        assert_eq!(
            (
                info.filename.as_str(),
                info.content_type.as_str(),
                info.size
            ),
            ("evil.html", "text/html", 5)
        );
        let (read, bytes) = store
            .read_all(&key(2), 5)
            .await
            .map(|(i, b)| (i, b.to_vec()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bytes, b"abcde");
        assert_eq!(read.size, 5);
        assert!(matches!(
            store.read_all(&key(2), 4).await,
            Err(AttachmentStoreError::TooLarge { size: 5, limit: 4 })
        ));
        assert!(matches!(
            store.url_at(&key(2), Duration::ZERO, now).await,
            Err(AttachmentStoreError::BadLifetime(_))
        ));
        assert!(matches!(
            store.url_at(&key(3), Duration::from_secs(9), now).await,
            Err(AttachmentStoreError::NotFound)
        ));
    }
}
