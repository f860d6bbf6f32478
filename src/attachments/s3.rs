//! The S3 store: objects in one bucket of any S3-compatible service (AWS, MinIO, s3s, ...),
//! credentials from the standard AWS provider chain (environment, profile, container or
//! instance role), presigned GET URLs of at most 7 days. Objects carry a download
//! `Content-Disposition`, their safe content type and their filename (percent-encoded
//! user metadata), so a presigned URL downloads under the right name and sending can read
//! the description back, and their owner tag (`x-amz-meta-owner`). Objects larger than
//! one part (8 MiB) go up as a multipart upload, one part in memory at a time when given
//! a stream; bytes already in memory are sliced, never copied. Expiry of objects is the bucket's business (a lifecycle rule): presigned
//! URLs expire on their own.
//!
//! The URL shape (host, path-style or virtual-hosted, prefix) is learnt once at start-up
//! by presigning a probe key offline, so [`S3Store::resolve_url_at`] recognises exactly
//! the URLs this client makes, whatever the addressing style, without a request.

use std::io;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::Fuse;
use subtle::ConstantTimeEq;
use url::Url;

use super::naming::{
    DEFAULT_FILENAME, content_disposition, percent_decode, percent_encode_attr, safe_content_type,
    safe_filename,
};
use super::{
    AttachmentBody, AttachmentKey, AttachmentStore, AttachmentStoreError, ChunkStream, IssuedUrl,
    MAX_PRESIGNED_TTL, ObjectInfo, OwnerTag, from_unix_seconds, unix_seconds,
};

/// Size of one multipart part, and the size from which uploads are multipart.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// User metadata (`x-amz-meta-filename`) holding the percent-encoded filename.
const FILENAME_METADATA: &str = "filename";
/// User metadata (`x-amz-meta-owner`) holding the object's [`OwnerTag`].
const OWNER_METADATA: &str = "owner";
/// The most opening one connection to the service may take (within S3_TIMEOUT).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The key presigned at start-up to learn the shape of this client's URLs.
const PROBE_KEY: &str = "mail-mcp-url-probe";

/// Where the bucket is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint of an S3-compatible service; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// `https://host/bucket/key` instead of `https://bucket.host/key`.
    pub force_path_style: bool,
    /// Static keys for services outside AWS's credential chain; `None` uses the chain.
    pub credentials: Option<StaticCredentials>,
    /// The most one request may take, retries included (S3_TIMEOUT): a service that is
    /// down or accepts and never answers is an error after at most this long.
    pub timeout: Duration,
}

/// S3_TIMEOUT's default: room for one 8 MiB part on a slow link.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An access key pair given in the configuration. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// A bucket and a client for it.
pub struct S3Store {
    client: Client,
    bucket: String,
    /// This client's URL of the bucket's root: every object URL is this plus the key.
    bucket_url: Url,
}

/// How an object is described when it is stored.
struct ObjectHeaders {
    content_type: String,
    disposition: String,
    filename_metadata: String,
    owner: Option<OwnerTag>,
}

impl ObjectHeaders {
    /// The user metadata: the filename, and the owner tag when there is one.
    fn metadata(&self) -> std::collections::HashMap<String, String> {
        let mut metadata = std::collections::HashMap::from([(
            FILENAME_METADATA.to_string(),
            self.filename_metadata.clone(),
        )]);
        if let Some(owner) = &self.owner {
            metadata.insert(OWNER_METADATA.to_string(), owner.as_str().to_string());
        }
        metadata
    }
}

impl S3Store {
    /// A store using the static credentials of `settings` when given, else the standard
    /// AWS credential chain (environment, profile, container or instance role).
    pub async fn from_environment(settings: S3Settings) -> Result<S3Store, AttachmentStoreError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()));
        if let Some(keys) = &settings.credentials {
            loader = loader.credentials_provider(Credentials::new(
                &keys.access_key_id,
                &keys.secret_access_key,
                None,
                None,
                "S3_ACCESS_KEY_ID",
            ));
        }
        let sdk = loader.load().await;
        S3Store::new(settings, &sdk).await
    }

    /// A store with the credentials (and other defaults) of `sdk`; the settings win over
    /// anything `sdk` says about region and endpoint. Makes no request.
    pub async fn new(
        settings: S3Settings,
        sdk: &SdkConfig,
    ) -> Result<S3Store, AttachmentStoreError> {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk)
            .region(Region::new(settings.region.clone()))
            .force_path_style(settings.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.timeout.min(CONNECT_TIMEOUT))
            .operation_attempt_timeout(settings.timeout)
            .operation_timeout(settings.timeout)
            .build();
        let config = builder.timeout_config(timeouts).build();
        let bucket_url = bucket_url(&config, &settings.bucket).await?;
        Ok(S3Store {
            client: Client::from_conf(config),
            bucket: settings.bucket,
            bucket_url,
        })
    }

    /// Checks that the bucket is reachable with the credentials at hand (HeadBucket).
    pub async fn check_bucket(&self) -> Result<(), AttachmentStoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_failure("reach its bucket", e))
    }

    /// [`AttachmentStore::url`] signed as of `now`.
    pub async fn url_at(
        &self,
        key: &AttachmentKey,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedUrl, AttachmentStoreError> {
        let seconds = Duration::from_secs(ttl.as_secs());
        if seconds.is_zero() || seconds > MAX_PRESIGNED_TTL {
            return Err(AttachmentStoreError::BadLifetime(ttl));
        }
        let presigning = PresigningConfig::builder()
            .start_time(now)
            .expires_in(seconds)
            .build()
            .map_err(|_| AttachmentStoreError::BadLifetime(ttl))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning)
            .await
            .map_err(|e| sdk_failure("sign a link", e))?;
        Ok(IssuedUrl {
            url: request.uri().to_string(),
            expires_at: from_unix_seconds(unix_seconds(now) + seconds.as_secs()),
        })
    }

    /// [`AttachmentStore::resolve_url`] as of `now`: a presigned GET URL of this bucket
    /// with a well-formed key and a signature, not expired. The signature itself is
    /// checked by the service when the URL is used, not here (reading back goes through
    /// the store's own credentials; keys cannot be guessed without the server's key).
    pub fn resolve_url_at(
        &self,
        text: &str,
        now: SystemTime,
    ) -> Result<Option<AttachmentKey>, AttachmentStoreError> {
        let Some(url) = Url::parse(text)
            .ok()
            .filter(|u| same_origin(u, &self.bucket_url))
        else {
            return Ok(None);
        };
        let Some(path) = url.path().strip_prefix(self.bucket_url.path()) else {
            return Ok(None);
        };
        let key = AttachmentKey::parse(path).ok_or(AttachmentStoreError::LinkInvalid)?;
        let expires = presigned_expiry(&url).ok_or(AttachmentStoreError::LinkInvalid)?;
        if unix_seconds(now) >= expires {
            return Err(AttachmentStoreError::LinkExpired);
        }
        Ok(Some(key))
    }

    /// Whether `text`, a URL [`S3Store::resolve_url_at`] accepted, carries the very
    /// signature this store makes for its key, `X-Amz-Date` and `X-Amz-Expires`: the URL is
    /// signed again with the store's credentials and the signatures compared, so an edited
    /// date or lifetime (which the service would refuse, but reading back with the store's
    /// own credentials would not) is [`AttachmentStoreError::LinkInvalid`].
    pub async fn verify_signature(&self, text: &str) -> Result<(), AttachmentStoreError> {
        let url = Url::parse(text).map_err(|_| AttachmentStoreError::LinkInvalid)?;
        let path = url.path().strip_prefix(self.bucket_url.path());
        let key = path
            .and_then(AttachmentKey::parse)
            .ok_or(AttachmentStoreError::LinkInvalid)?;
        let (date, lifetime) = presigned_window(&url).ok_or(AttachmentStoreError::LinkInvalid)?;
        let given =
            query_param(&url, "X-Amz-Signature").ok_or(AttachmentStoreError::LinkInvalid)?;
        let resigned = match self.url_at(&key, lifetime, date).await {
            Ok(issued) => issued.url,
            Err(AttachmentStoreError::BadLifetime(_)) => {
                return Err(AttachmentStoreError::LinkInvalid);
            }
            Err(e) => return Err(e),
        };
        let expected = Url::parse(&resigned)
            .ok()
            .and_then(|u| query_param(&u, "X-Amz-Signature"))
            .ok_or(AttachmentStoreError::LinkInvalid)?;
        match bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            true => Ok(()),
            false => Err(AttachmentStoreError::LinkInvalid),
        }
    }

    async fn put_single(
        &self,
        key: &AttachmentKey,
        bytes: Bytes,
        headers: &ObjectHeaders,
    ) -> Result<(), AttachmentStoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(&headers.content_type)
            .content_disposition(&headers.disposition)
            .set_metadata(Some(headers.metadata()))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_failure("store the attachment", e))
    }

    /// Uploads `first`, `second` and the rest of `parts` as one multipart object; aborts
    /// the upload on failure so no parts are left behind.
    async fn put_multipart(
        &self,
        key: &AttachmentKey,
        first: Bytes,
        second: Bytes,
        parts: &mut PartSource,
        headers: &ObjectHeaders,
    ) -> Result<u64, AttachmentStoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(&headers.content_type)
            .content_disposition(&headers.disposition)
            .set_metadata(Some(headers.metadata()))
            .send()
            .await
            .map_err(|e| sdk_failure("start a multipart upload", e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                AttachmentStoreError::backend("start a multipart upload", "no upload id")
            })?
            .to_string();
        let uploaded = self
            .upload_parts(key, &upload_id, first, second, parts)
            .await;
        let completed = match uploaded {
            Ok((done, size)) => self.complete(key, &upload_id, done).await.map(|()| size),
            Err(e) => Err(e),
        };
        if completed.is_err() {
            self.abort(key, &upload_id).await;
        }
        completed
    }

    async fn upload_parts(
        &self,
        key: &AttachmentKey,
        upload_id: &str,
        first: Bytes,
        second: Bytes,
        parts: &mut PartSource,
    ) -> Result<(Vec<CompletedPart>, u64), AttachmentStoreError> {
        let mut done = Vec::new();
        let mut size = 0u64;
        let mut next = Some(first);
        let mut after = Some(second);
        while let Some(bytes) = next {
            size += bytes.len() as u64;
            let number = i32::try_from(done.len() + 1)
                .map_err(|e| AttachmentStoreError::backend("store the attachment", e))?;
            done.push(self.upload_part(key, upload_id, number, bytes).await?);
            next = match after.take() {
                Some(bytes) => Some(bytes),
                None => parts.next_part().await.map_err(|e| {
                    AttachmentStoreError::backend("read the attachment to store", e)
                })?,
            };
        }
        Ok((done, size))
    }

    async fn upload_part(
        &self,
        key: &AttachmentKey,
        upload_id: &str,
        number: i32,
        bytes: Bytes,
    ) -> Result<CompletedPart, AttachmentStoreError> {
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_failure("upload a part", e))?;
        Ok(CompletedPart::builder()
            .set_e_tag(output.e_tag().map(str::to_string))
            .part_number(number)
            .build())
    }

    async fn complete(
        &self,
        key: &AttachmentKey,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<(), AttachmentStoreError> {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_failure("complete a multipart upload", e))
    }

    async fn abort(&self, key: &AttachmentKey, upload_id: &str) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::warn!(error = %DisplayErrorContext(&e), "could not abort a multipart upload");
        }
    }
}

#[async_trait]
impl AttachmentStore for S3Store {
    async fn exists(&self, key: &AttachmentKey) -> Result<bool, AttachmentStoreError> {
        Ok(self.describe(key).await?.is_some())
    }

    async fn describe(
        &self,
        key: &AttachmentKey,
    ) -> Result<Option<ObjectInfo>, AttachmentStoreError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        match head {
            Ok(head) => Ok(Some(object_info(
                head.metadata(),
                head.content_type(),
                head.content_length(),
                head.last_modified(),
            ))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(sdk_failure("look up the attachment", e)),
        }
    }

    async fn put_owned(
        &self,
        key: &AttachmentKey,
        owner: Option<&OwnerTag>,
        body: AttachmentBody,
        filename: &str,
        content_type: &str,
    ) -> Result<ObjectInfo, AttachmentStoreError> {
        let filename = safe_filename(filename);
        let headers = ObjectHeaders {
            content_type: safe_content_type(content_type),
            disposition: content_disposition(&filename),
            filename_metadata: percent_encode_attr(&filename),
            owner: owner.cloned(),
        };
        let mut parts = PartSource::new(body, PART_BYTES);
        let read_failed = |e| AttachmentStoreError::backend("read the attachment to store", e);
        let first = parts
            .next_part()
            .await
            .map_err(read_failed)?
            .unwrap_or_default();
        let second = if first.len() < PART_BYTES {
            None
        } else {
            parts.next_part().await.map_err(read_failed)?
        };
        let size = match second {
            None => {
                let size = first.len() as u64;
                self.put_single(key, first, &headers).await?;
                size
            }
            Some(second) => {
                self.put_multipart(key, first, second, &mut parts, &headers)
                    .await?
            }
        };
        Ok(ObjectInfo {
            filename,
            content_type: headers.content_type,
            size,
            created: Some(SystemTime::now()),
            expires: None,
            owner: headers.owner,
        })
    }

    async fn get(
        &self,
        key: &AttachmentKey,
    ) -> Result<(ObjectInfo, ChunkStream), AttachmentStoreError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(AttachmentStoreError::NotFound);
            }
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Err(AttachmentStoreError::NotFound);
            }
            Err(e) => return Err(sdk_failure("read the attachment", e)),
        };
        let info = object_info(
            output.metadata(),
            output.content_type(),
            output.content_length(),
            output.last_modified(),
        );
        let chunks = futures::stream::unfold(output.body, |mut body| async move {
            let chunk = body.next().await?;
            Some((chunk.map_err(io::Error::other), body))
        });
        Ok((info, Box::pin(chunks)))
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

    async fn verify_issued(&self, url: &str) -> Result<(), AttachmentStoreError> {
        self.verify_signature(url).await
    }
}

/// An object's description from the headers S3 returns with it (GET or HEAD).
fn object_info(
    metadata: Option<&std::collections::HashMap<String, String>>,
    content_type: Option<&str>,
    content_length: Option<i64>,
    last_modified: Option<&aws_sdk_s3::primitives::DateTime>,
) -> ObjectInfo {
    let filename = metadata
        .and_then(|m| m.get(FILENAME_METADATA))
        .and_then(|encoded| percent_decode(encoded))
        .map(|name| safe_filename(&name))
        .unwrap_or_else(|| DEFAULT_FILENAME.to_string());
    ObjectInfo {
        filename,
        content_type: safe_content_type(content_type.unwrap_or_default()),
        size: content_length.map_or(0, |n| n.max(0) as u64),
        created: last_modified.and_then(|t| SystemTime::try_from(*t).ok()),
        expires: None,
        owner: metadata
            .and_then(|m| m.get(OWNER_METADATA))
            .and_then(|tag| OwnerTag::parse(tag)),
    }
}

/// Parts of an upload: slices of bytes in memory, or a stream regrouped into parts. The
/// stream is fused: asking for a part after the last one answers `None` again instead of
/// polling a finished stream (which many streams, `unfold` among them, answer by
/// panicking: that panic used to kill the request of every attachment of one part and a
/// bit, leaving its caller waiting for ever).
enum PartSource {
    Slices {
        rest: Bytes,
        part: usize,
    },
    Stream {
        stream: Fuse<ChunkStream>,
        pending: Bytes,
        part: usize,
    },
}

impl PartSource {
    fn new(body: AttachmentBody, part: usize) -> PartSource {
        match body {
            AttachmentBody::Bytes(rest) => PartSource::Slices { rest, part },
            AttachmentBody::Stream(stream) => PartSource::Stream {
                stream: stream.fuse(),
                pending: Bytes::new(),
                part,
            },
        }
    }

    /// The next part: `part` bytes, or fewer for the last one; `None` at the end.
    async fn next_part(&mut self) -> io::Result<Option<Bytes>> {
        match self {
            PartSource::Slices { rest, part } => {
                let take = (*part).min(rest.len());
                Ok((take > 0).then(|| rest.split_to(take)))
            }
            PartSource::Stream {
                stream,
                pending,
                part,
            } => next_stream_part(stream, pending, *part).await,
        }
    }
}

/// Fills one part from the stream; a chunk that is at least a whole part is sliced, not
/// copied. Holds at most one part besides the chunk being split.
async fn next_stream_part(
    stream: &mut Fuse<ChunkStream>,
    pending: &mut Bytes,
    part: usize,
) -> io::Result<Option<Bytes>> {
    let mut buffer = BytesMut::new();
    loop {
        if buffer.len() == part {
            return Ok(Some(buffer.freeze()));
        }
        if pending.is_empty() {
            match stream.next().await {
                Some(chunk) => *pending = chunk?,
                None => return Ok((!buffer.is_empty()).then(|| buffer.freeze())),
            }
            continue;
        }
        if buffer.is_empty() && pending.len() >= part {
            return Ok(Some(pending.split_to(part)));
        }
        if buffer.capacity() == 0 {
            buffer.reserve(part);
        }
        let take = (part - buffer.len()).min(pending.len());
        buffer.extend_from_slice(&pending.split_to(take));
    }
}

/// The URL of the bucket's root as this client writes it, learnt by presigning a probe
/// key with throw-away credentials (offline: presigning makes no request).
async fn bucket_url(
    config: &aws_sdk_s3::Config,
    bucket: &str,
) -> Result<Url, AttachmentStoreError> {
    let probe_config = config
        .to_builder()
        .credentials_provider(Credentials::new("probe", "probe", None, None, "probe"))
        .build();
    let presigning = PresigningConfig::expires_in(Duration::from_secs(60))
        .map_err(|e| AttachmentStoreError::backend("sign a link", e))?;
    let request = Client::from_conf(probe_config)
        .get_object()
        .bucket(bucket)
        .key(PROBE_KEY)
        .presigned(presigning)
        .await
        .map_err(|e| sdk_failure("sign a link", e))?;
    let mut url =
        Url::parse(request.uri()).map_err(|e| AttachmentStoreError::backend("sign a link", e))?;
    let root = url
        .path()
        .strip_suffix(PROBE_KEY)
        .ok_or_else(|| {
            AttachmentStoreError::backend("sign a link", "unexpected presigned URL shape")
        })?
        .to_string();
    url.set_path(&root);
    url.set_query(None);
    Ok(url)
}

fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
}

/// When a presigned URL stops working (`X-Amz-Date` + `X-Amz-Expires`, Unix seconds);
/// `None` unless it is signed and both are well-formed.
fn presigned_expiry(url: &Url) -> Option<u64> {
    query_param(url, "X-Amz-Signature").filter(|s| !s.is_empty())?;
    let (date, lifetime) = presigned_window(url)?;
    unix_seconds(date).checked_add(lifetime.as_secs())
}

/// The signing time (`X-Amz-Date`) and lifetime (`X-Amz-Expires`) a presigned URL claims.
fn presigned_window(url: &Url) -> Option<(SystemTime, Duration)> {
    let date =
        chrono::NaiveDateTime::parse_from_str(&query_param(url, "X-Amz-Date")?, "%Y%m%dT%H%M%SZ")
            .ok()?
            .and_utc()
            .timestamp();
    let lifetime: u64 = query_param(url, "X-Amz-Expires")?.parse().ok()?;
    Some((
        from_unix_seconds(u64::try_from(date).ok()?),
        Duration::from_secs(lifetime),
    ))
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A failed SDK call: logged with the SDK's detail, reported without it.
fn sdk_failure(operation: &'static str, error: impl std::error::Error) -> AttachmentStoreError {
    let detail = DisplayErrorContext(&error).to_string();
    tracing::warn!(operation, error = %detail, "S3 request failed");
    AttachmentStoreError::backend(operation, detail)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn chunks(sizes: &[usize]) -> ChunkStream {
        let items: Vec<io::Result<Bytes>> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| Ok(Bytes::from(vec![i as u8; *n])))
            .collect();
        Box::pin(futures::stream::iter(items))
    }

    async fn part_sizes(mut source: PartSource) -> Vec<usize> {
        let mut sizes = Vec::new();
        while let Some(part) = source.next_part().await.unwrap() {
            sizes.push(part.len());
        }
        sizes
    }

    #[tokio::test]
    async fn streams_and_buffers_are_regrouped_into_whole_parts() {
        let cases: [(&[usize], &[usize]); 6] = [
            (&[], &[]),
            (&[3], &[3]),
            (&[4, 4, 4], &[10, 2]),
            (&[25], &[10, 10, 5]),
            (&[10, 10], &[10, 10]),
            (&[1, 0, 9, 20, 1], &[10, 10, 10, 1]),
        ];
        for (input, expected) in cases {
            let streamed = PartSource::new(AttachmentBody::Stream(chunks(input)), 10);
            assert_eq!(part_sizes(streamed).await, expected, "stream {input:?}");
            let total: usize = input.iter().sum();
            let sliced = PartSource::new(vec![0u8; total].into(), 10);
            assert_eq!(part_sizes(sliced).await, expected, "bytes {input:?}");
        }
    }

    #[tokio::test]
    async fn stream_parts_keep_the_bytes_in_order() {
        let mut source = PartSource::new(AttachmentBody::Stream(chunks(&[3, 4, 5])), 5);
        let mut all = Vec::new();
        while let Some(part) = source.next_part().await.unwrap() {
            all.extend_from_slice(&part);
        }
        assert_eq!(all, [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    }

    /// Chunks of `sizes` from a stream that, like `unfold` and a channel read through it,
    /// panics when polled after its end; `pulled` counts the bytes taken from it.
    fn strict_chunks(sizes: &[usize], pulled: Arc<AtomicUsize>) -> ChunkStream {
        let items: std::collections::VecDeque<usize> = sizes.iter().copied().collect();
        Box::pin(futures::stream::unfold(items, move |mut items| {
            let pulled = Arc::clone(&pulled);
            async move {
                let n = items.pop_front()?;
                pulled.fetch_add(n, Ordering::SeqCst);
                Some((Ok(Bytes::from(vec![7u8; n])), items))
            }
        }))
    }

    /// The upload loop asks for one more part after the last (short) one: a stream that
    /// panics when polled after its end (what the channel of a streamed attachment
    /// became) now gets `None` again instead of being polled. Before the fuse this
    /// panicked inside the tool call, whose request then never got an answer.
    #[tokio::test]
    async fn asking_past_the_last_part_never_polls_the_finished_stream() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let stream = strict_chunks(&[4, 4, 4], Arc::clone(&pulled));
        let mut source = PartSource::new(AttachmentBody::Stream(stream), 10);
        let mut sizes = Vec::new();
        while let Some(part) = source.next_part().await.unwrap() {
            sizes.push(part.len());
        }
        assert_eq!(sizes, [10, 2]);
        for _ in 0..3 {
            assert!(source.next_part().await.unwrap().is_none());
        }
        assert_eq!(pulled.load(Ordering::SeqCst), 12);
    }

    /// Regrouping a stream into parts holds at most one part plus the chunk being split:
    /// after each part, the bytes pulled from the stream exceed the bytes handed out by
    /// less than one chunk (nothing is read ahead).
    #[tokio::test]
    async fn regrouping_holds_one_part_and_one_chunk_at_most() {
        const CHUNK: usize = 3;
        let pulled = Arc::new(AtomicUsize::new(0));
        let stream = strict_chunks(&[CHUNK; 40], Arc::clone(&pulled));
        let mut source = PartSource::new(AttachmentBody::Stream(stream), 10);
        let mut handed_out = 0;
        while let Some(part) = source.next_part().await.unwrap() {
            handed_out += part.len();
            let ahead = pulled.load(Ordering::SeqCst) - handed_out;
            assert!(ahead < CHUNK, "{ahead} bytes read ahead after {handed_out}");
        }
        assert_eq!(handed_out, 120);
    }

    #[test]
    fn presigned_expiry_needs_a_signature_a_date_and_a_lifetime() {
        let base = "http://s3.test/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256";
        let cases = [
            (
                format!("{base}&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-Signature=ab"),
                Some(1_704_067_260),
            ),
            (
                format!("{base}&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60"),
                None,
            ),
            (
                format!("{base}&X-Amz-Date=2024-01-01&X-Amz-Expires=60&X-Amz-Signature=ab"),
                None,
            ),
            (
                format!("{base}&X-Amz-Date=20240101T000000Z&X-Amz-Expires=-1&X-Amz-Signature=ab"),
                None,
            ),
            (format!("{base}&X-Amz-Expires=60&X-Amz-Signature=ab"), None),
        ];
        for (url, expected) in cases {
            assert_eq!(
                presigned_expiry(&Url::parse(&url).unwrap()),
                expected,
                "{url}"
            );
        }
    }
}
