//! The attachment stores against real servers: the S3 store against the stack's s3s-fs
//! (which checks SigV4 signatures, presigned ones included), and the local store through
//! the real application serving `GET /attachments/{signed_link}`. Each test checks the bytes the
//! service itself hands out (a presigned URL fetched over HTTP, a link downloaded from the
//! server, the files on disk), not only what the store says.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use bytes::Bytes;
use mail_mcp::attachments::{
    AttachmentBody, AttachmentKey, AttachmentStore, AttachmentStoreError, ChunkStream,
    LINK_SUBKEY_LABEL, LinkSigner, LocalStore, NewAttachment, Owner, OwnerTag, S3Settings, S3Store,
    SweepReport, url_for,
};
use mail_mcp::token::Keyring;
use sha2::{Digest, Sha256};

use common::app::TestServer;
use common::stack;

/// A key no other test uses (a fresh account address).
fn fresh_key(part: &str) -> AttachmentKey {
    let account = format!("{}@example.test", uuid::Uuid::new_v4().simple());
    let owner = Owner {
        imap_host: "127.0.0.1",
        imap_port: 993,
        username: &account,
    };
    AttachmentKey::derive(&[9; 32], &owner, "INBOX", 7, 42, part)
}

/// Bytes with every byte value, in an order that differs per `seed`.
fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// `data` as a stream of uneven chunks (1 byte to ~3 MB), like a network source gives.
fn uneven_stream(data: Bytes) -> ChunkStream {
    let sizes = [1usize, 4096, 3_000_017, 65_536, 1_234_567];
    let mut chunks = Vec::new();
    let mut offset = 0;
    for size in sizes.iter().cycle() {
        if offset >= data.len() {
            break;
        }
        let end = (offset + size).min(data.len());
        chunks.push(Ok(data.slice(offset..end)));
        offset = end;
    }
    Box::pin(futures::stream::iter(chunks))
}

fn digest(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// S3

fn s3_settings() -> S3Settings {
    let stack = stack();
    S3Settings {
        endpoint: Some(stack.s3_endpoint.clone()),
        region: stack.s3_region.clone(),
        bucket: stack.s3_bucket.clone(),
        force_path_style: true,
        credentials: None,
        timeout: mail_mcp::attachments::s3::DEFAULT_TIMEOUT,
    }
}

/// The S3 store on the stack's bucket, with the stack's credentials.
async fn s3_store() -> S3Store {
    let stack = stack();
    let credentials = Credentials::new(
        &stack.s3_access_key_id,
        &stack.s3_secret_access_key,
        None,
        None,
        "mail-stack",
    );
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(Region::new(stack.s3_region.clone()))
        .load()
        .await;
    S3Store::new(s3_settings(), &sdk).await.unwrap()
}

/// Downloads a URL; returns the status and body.
async fn download(url: &str) -> (u16, Bytes) {
    let response = http().get(url).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap())
}

/// A presigned URL fetched over plain HTTP from s3s-fs returns exactly the bytes put,
/// the object exists only after the put, and the store reads back the same bytes with
/// the sanitised filename and type it was stored with.
#[tokio::test]
async fn s3_presigned_url_returns_the_bytes_that_were_put() {
    let store = s3_store().await;
    let key = fresh_key("2").with_extension_of("report.pdf");
    let data = sample(300_000, 1);
    assert!(!store.exists(&key).await.unwrap(), "nothing before the put");

    let info = store
        .put(
            &key,
            data.clone().into(),
            "../Grüße report.pdf",
            "Application/PDF; x=1",
        )
        .await
        .unwrap();
    assert_eq!(
        (info.filename.as_str(), info.content_type.as_str()),
        ("Grüße report.pdf", "application/pdf")
    );
    assert_eq!(info.size, data.len() as u64);
    assert!(
        store.exists(&key).await.unwrap(),
        "the object exists after the put"
    );

    let issued = store.url(&key, Duration::from_secs(600)).await.unwrap();
    let expires_in = issued.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(
        expires_in <= Duration::from_secs(600),
        "never longer than asked"
    );
    let response = http().get(&issued.url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"Gr__e report.pdf\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20report.pdf",
        "a presigned URL downloads under the attachment's name"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(
        digest(&body),
        digest(&data),
        "the URL serves the exact bytes"
    );

    let (read, bytes) = store.read_all(&key, 1 << 20).await.unwrap();
    assert_eq!(&bytes[..], &data[..]);
    assert_eq!(
        (read.filename.as_str(), read.size),
        ("Grüße report.pdf", data.len() as u64)
    );
    let err = store.read_all(&key, 1000).await.unwrap_err();
    assert!(
        matches!(err, AttachmentStoreError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
}

/// `url_for` uploads an attachment the first time only: a second read of the same part
/// finds the object in the bucket and just signs a new URL, which serves the same bytes.
#[tokio::test]
async fn s3_url_for_uploads_once_per_key() {
    let store = s3_store().await;
    let key = fresh_key("2");
    let fetches = AtomicUsize::new(0);
    let fetch = || async {
        fetches.fetch_add(1, Ordering::Relaxed);
        Ok::<_, AttachmentStoreError>(NewAttachment {
            body: sample(5_000, 4).into(),
            filename: "notes.txt".into(),
            content_type: "text/plain".into(),
        })
    };
    let ttl = Duration::from_secs(600);
    let owner = test_owner_tag("reader");
    let (first, uploaded_first) = url_for(&store, &key, &owner, ttl, fetch).await.unwrap();
    let (second, uploaded_second) = url_for(&store, &key, &owner, ttl, fetch).await.unwrap();
    assert_eq!((uploaded_first, uploaded_second), (true, false));
    assert_eq!(fetches.load(Ordering::Relaxed), 1, "uploaded once");
    for issued in [first, second] {
        let (status, body) = download(&issued.url).await;
        assert_eq!((status, digest(&body)), (200, digest(&sample(5_000, 4))));
    }
}

/// An owner tag made for tests.
fn test_owner_tag(username: &str) -> OwnerTag {
    let owner = Owner {
        imap_host: "127.0.0.1",
        imap_port: 993,
        username,
    };
    OwnerTag::derive(&[9; 32], &owner)
}

/// The stack's bucket through a plain S3 client (not the store).
async fn raw_s3_client() -> aws_sdk_s3::Client {
    let stack = stack();
    let credentials = Credentials::new(
        &stack.s3_access_key_id,
        &stack.s3_secret_access_key,
        None,
        None,
        "mail-stack",
    );
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(Region::new(stack.s3_region.clone()))
        .endpoint_url(&stack.s3_endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The owner tag goes into S3 as `x-amz-meta-owner` and s3s-fs keeps it: a HEAD by a
/// plain client shows it, for a single put and for a multipart one, and the store reads
/// it back; an object put without one has none.
#[tokio::test]
async fn s3_keeps_the_owner_tag_as_object_metadata() {
    let store = s3_store().await;
    let client = raw_s3_client().await;
    let owner = test_owner_tag("tagged");
    let cases = [(fresh_key("2"), 10usize), (fresh_key("3"), 9 << 20)];
    for (key, len) in cases {
        store
            .put_owned(
                &key,
                Some(&owner),
                sample(len, 3).into(),
                "a.bin",
                "application/octet-stream",
            )
            .await
            .unwrap();
        let head = client
            .head_object()
            .bucket(&stack().s3_bucket)
            .key(key.as_str())
            .send()
            .await
            .unwrap();
        let stored = head.metadata().and_then(|m| m.get("owner")).cloned();
        assert_eq!(stored.as_deref(), Some(owner.as_str()), "{len} bytes");
        let info = store.describe(&key).await.unwrap().unwrap();
        assert_eq!(info.owner, Some(owner.clone()));
    }
    let untagged = fresh_key("4");
    store
        .put(&untagged, b"x".to_vec().into(), "a.txt", "text/plain")
        .await
        .unwrap();
    assert_eq!(
        store.describe(&untagged).await.unwrap().unwrap().owner,
        None
    );
}

/// s3s-fs refuses (403) a presigned URL whose signature, expiry, key or lifetime was
/// altered, and one that has expired; the untouched URL still works.
#[tokio::test]
async fn s3_refuses_a_tampered_or_expired_presigned_url() {
    let store = s3_store().await;
    let key = fresh_key("3");
    let other = fresh_key("4");
    store
        .put(&key, b"secret one".to_vec().into(), "a.txt", "text/plain")
        .await
        .unwrap();
    store
        .put(&other, b"secret two".to_vec().into(), "b.txt", "text/plain")
        .await
        .unwrap();
    let url = store.url(&key, Duration::from_secs(600)).await.unwrap().url;

    let signature_start = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &url[signature_start..signature_start + 1] == "0" {
        "1"
    } else {
        "0"
    };
    let tampered = [
        format!(
            "{}{flipped}{}",
            &url[..signature_start],
            &url[signature_start + 1..]
        ),
        url.replace("X-Amz-Expires=600", "X-Amz-Expires=604800"),
        url.replace(key.as_str(), other.as_str()),
    ];
    for bad in &tampered {
        assert_ne!(bad, &url, "the URL was altered");
        let (status, body) = download(bad).await;
        assert_eq!(status, 403, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    let past = SystemTime::now() - Duration::from_secs(7200);
    let expired = store
        .url_at(&key, Duration::from_secs(60), past)
        .await
        .unwrap()
        .url;
    assert_eq!(download(&expired).await.0, 403, "an expired URL is refused");

    let (status, body) = download(&url).await;
    assert_eq!((status, &body[..]), (200, &b"secret one"[..]));
}

/// A 20 MB attachment goes up as a multipart upload, from bytes in memory and from an
/// uneven stream, and comes back byte-identical through the presigned URL and the store.
#[tokio::test]
async fn s3_multipart_upload_of_20_mb_round_trips() {
    let store = s3_store().await;
    let data = Bytes::from(sample(20 * 1024 * 1024 + 12_345, 2));
    let from_memory = fresh_key("5");
    let from_stream = fresh_key("6");
    store
        .put(
            &from_memory,
            AttachmentBody::Bytes(data.clone()),
            "big.bin",
            "application/octet-stream",
        )
        .await
        .unwrap();
    let info = store
        .put(
            &from_stream,
            AttachmentBody::Stream(uneven_stream(data.clone())),
            "big.bin",
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(info.size, data.len() as u64);

    for key in [&from_memory, &from_stream] {
        let url = store.url(key, Duration::from_secs(600)).await.unwrap().url;
        let response = http().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.ends_with("-3\""), "three 8 MiB parts: {etag}");
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), data.len(), "{key}");
        assert_eq!(digest(&body), digest(&data), "{key}");
        let (read, bytes) = store.read_all(key, 64 << 20).await.unwrap();
        assert_eq!(read.size, data.len() as u64);
        assert_eq!(digest(&bytes), digest(&data), "{key} through the store");
    }
}

/// `resolve_url` maps our presigned URLs back to their key, says "not ours" for other
/// hosts, ports, buckets and the cloud metadata address, and refuses an expired URL or a
/// path of our bucket that is not one of our keys, all without a request.
#[tokio::test]
async fn s3_resolve_url_recognises_only_our_urls() {
    let store = s3_store().await;
    let key = fresh_key("7");
    let url = store.url(&key, Duration::from_secs(600)).await.unwrap().url;
    assert_eq!(store.resolve_url(&url).unwrap(), Some(key.clone()));

    let stack = stack();
    let endpoint = url::Url::parse(&stack.s3_endpoint).unwrap();
    let port = endpoint.port().unwrap();
    let bucket_path = format!("/{}/", stack.s3_bucket);
    let foreign = [
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_string(),
        url.replace(&bucket_path, "/another-bucket/"),
        url.replace(&bucket_path, &format!("/{}-x/", stack.s3_bucket)),
        url.replace("127.0.0.1", "localhost"),
        url.replace(&format!(":{port}/"), &format!(":{}/", port + 1)),
        url.replace("http://", "https://"),
        url.replace("http://", "http://user:pw@"),
        format!("http://evil.example/{}", key),
        "file:///etc/passwd".to_string(),
        "not a url".to_string(),
    ];
    for other in &foreign {
        let resolved = store.resolve_url(other);
        assert!(matches!(resolved, Ok(None)), "{other}: {resolved:?}");
    }

    let not_a_key = url.replace(key.as_str(), "some/other/object");
    assert!(matches!(
        store.resolve_url(&not_a_key),
        Err(AttachmentStoreError::LinkInvalid)
    ));
    let unsigned = url.split('?').next().unwrap().to_string();
    assert!(matches!(
        store.resolve_url(&unsigned),
        Err(AttachmentStoreError::LinkInvalid)
    ));
    let past = SystemTime::now() - Duration::from_secs(7200);
    let expired = store
        .url_at(&key, Duration::from_secs(60), past)
        .await
        .unwrap()
        .url;
    assert!(matches!(
        store.resolve_url(&expired),
        Err(AttachmentStoreError::LinkExpired)
    ));
}

/// Presigned URLs are capped at S3's 7 days, and a lifetime under a second is refused.
#[tokio::test]
async fn s3_url_lifetimes_stay_within_what_s3_signs() {
    let store = s3_store().await;
    let key = fresh_key("8");
    for ttl in [Duration::ZERO, Duration::from_secs(604_801)] {
        let result = store.url(&key, ttl).await;
        assert!(
            matches!(result, Err(AttachmentStoreError::BadLifetime(_))),
            "{ttl:?}"
        );
    }
    let week = store.url(&key, Duration::from_secs(604_800)).await.unwrap();
    assert!(week.url.contains("X-Amz-Expires=604800"), "{}", week.url);
}

// ---------------------------------------------------------------------------------------
// Local store through the real server

/// The server's local store, opened in-process with the same files and link key, so
/// the test can issue links the real server serves.
trait LocalStoreOf {
    fn store(&self) -> LocalStore;
}

impl LocalStoreOf for TestServer {
    /// The server's local store, opened in-process (objects kept one hour).
    fn store(&self) -> LocalStore {
        let keyring = Keyring::parse(&self.key).unwrap();
        let links = LinkSigner::new(keyring.derive_subkey(LINK_SUBKEY_LABEL));
        LocalStore::new(
            self.data_dir.join("attachments"),
            links,
            &self.base_url,
            Duration::from_secs(3600),
        )
        .unwrap()
    }
}

/// Asserts the headers that keep a download from rendering on our origin.
fn assert_safe_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "sandbox; default-src 'none'"
    );
    assert_eq!(headers["cache-control"], "private, no-store");
}

/// A signed link downloads the exact bytes from the running server as an attachment
/// with a safe filename; HTML content is served as octet-stream, never as a page.
#[tokio::test]
async fn local_link_downloads_identical_bytes_with_safe_headers() {
    let server = TestServer::start(stack(), &[]).await;
    let store = server.store();
    let key = fresh_key("2");
    let data = [
        b"<html><script>alert(1)</script>".as_slice(),
        &sample(200_000, 3),
    ]
    .concat();
    store
        .put(
            &key,
            data.clone().into(),
            "Grüße \"x\"/../évil.html",
            "text/html; charset=utf-8",
        )
        .await
        .unwrap();
    let issued = store.url(&key, Duration::from_secs(600)).await.unwrap();
    assert!(
        issued
            .url
            .starts_with(&format!("{}/attachments/", server.base_url))
    );

    let response = http().get(&issued.url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_safe_headers(&response);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"_vil.html\"; filename*=UTF-8''%C3%A9vil.html"
    );
    assert_eq!(headers["content-length"], data.len().to_string().as_str());
    let body = response.bytes().await.unwrap();
    assert_eq!(
        digest(&body),
        digest(&data),
        "the link serves the exact bytes"
    );

    assert_eq!(store.resolve_url(&issued.url).unwrap(), Some(key));
    let on_disk = std::fs::read_dir(server.data_dir.join("attachments"))
        .unwrap()
        .count();
    assert_eq!(on_disk, 1, "one account directory holds the object");
}

/// Tampered links get 403, expired ones 410, unknown and swept ones 404, each with a short
/// plain-text body and the same safe headers; none of them serves a byte of the file.
#[tokio::test]
async fn local_links_refuse_tampered_expired_unknown_and_swept() {
    let server = TestServer::start(stack(), &[]).await;
    let store = server.store();
    let key = fresh_key("2");
    store
        .put(&key, b"top secret".to_vec().into(), "a.txt", "text/plain")
        .await
        .unwrap();
    let url = store.url(&key, Duration::from_secs(600)).await.unwrap().url;
    let (prefix, signed_link) = url.rsplit_once('/').unwrap();
    let mut parts: Vec<String> = signed_link.split('.').map(str::to_string).collect();

    let mut later_expiry = parts.clone();
    later_expiry[1] = (parts[1].parse::<u64>().unwrap() + 3600).to_string();
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(..1, first);
    let other_key = fresh_key("2");
    let signed_elsewhere = LinkSigner::new([1; 32]).sign(&key, u64::MAX / 2);
    let past = SystemTime::now() - Duration::from_secs(7200);
    let expired = store
        .url_at(&key, Duration::from_secs(60), past)
        .await
        .unwrap()
        .url;
    let unknown = format!(
        "{prefix}/{}",
        server_signer(&server).sign(&other_key, u64::MAX / 2)
    );

    let cases = [
        (format!("{prefix}/{}", later_expiry.join(".")), 403),
        (format!("{prefix}/{}", parts.join(".")), 403),
        (format!("{prefix}/{signed_elsewhere}"), 403),
        (format!("{prefix}/not-a-signed-link"), 403),
        (expired, 410),
        (unknown, 404),
    ];
    for (link, status) in &cases {
        let response = http().get(link).send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{link}");
        assert_safe_headers(&response);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        let body = response.text().await.unwrap();
        assert!(body.len() < 200 && !body.contains("top secret"), "{body}");
    }

    let report = store
        .sweep_once(SystemTime::now() + Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(
        http().get(&url).send().await.unwrap().status(),
        404,
        "a swept object is gone"
    );
}

/// The signer the server uses for its links (same keyring, same label).
fn server_signer(server: &TestServer) -> LinkSigner {
    LinkSigner::new(
        Keyring::parse(&server.key)
            .unwrap()
            .derive_subkey(LINK_SUBKEY_LABEL),
    )
}

/// The sweep removes the files of expired objects, keeps fresh ones, and a link issued for
/// longer than the object's own lifetime keeps the object that long.
#[tokio::test]
async fn local_sweep_removes_expired_files_only() {
    let root = std::env::temp_dir().join(format!("mail_mcp-sweep-{}", uuid::Uuid::new_v4()));
    let store = LocalStore::new(
        root.clone(),
        LinkSigner::new([2; 32]),
        "http://127.0.0.1:9",
        Duration::from_secs(3600),
    )
    .unwrap();
    let now = SystemTime::now();
    let (old, fresh, kept_by_link) = (fresh_key("1"), fresh_key("2"), fresh_key("3"));
    let two_hours_ago = now - Duration::from_secs(7200);
    for key in [&old, &kept_by_link] {
        store
            .put_at(
                key,
                b"old".to_vec().into(),
                "old.txt",
                "text/plain",
                two_hours_ago,
            )
            .await
            .unwrap();
    }
    store
        .put_at(&fresh, b"new".to_vec().into(), "new.txt", "text/plain", now)
        .await
        .unwrap();
    store
        .url_at(&kept_by_link, Duration::from_secs(86_400), two_hours_ago)
        .await
        .unwrap();

    let files = |key: &AttachmentKey| {
        std::fs::read_dir(root.join(key.account_tag()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    };
    assert_eq!(
        (files(&old), files(&fresh), files(&kept_by_link)),
        (2, 2, 2)
    );
    let report = store.sweep_once(now).await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            expired: 1,
            leftovers: 0
        }
    );
    assert_eq!(
        (files(&old), files(&fresh), files(&kept_by_link)),
        (0, 2, 2)
    );
    assert!(!store.exists(&old).await.unwrap());
    assert!(store.exists(&fresh).await.unwrap() && store.exists(&kept_by_link).await.unwrap());
}

/// An S3 link passes the store's signature check as issued; the same link with an edited
/// X-Amz-Expires or X-Amz-Date (which resolve_url alone would trust) is refused as altered.
#[tokio::test]
async fn s3_signature_check_refuses_edited_query_values() {
    let store = s3_store().await;
    let key = fresh_key("2");
    let issued = store
        .url(&key, std::time::Duration::from_secs(600))
        .await
        .unwrap();
    store.verify_signature(&issued.url).await.unwrap();
    let edits = [
        ("X-Amz-Expires=600", "X-Amz-Expires=604800"),
        ("X-Amz-Expires=600", "X-Amz-Expires=1"),
    ];
    for (from, to) in edits {
        let edited = issued.url.replace(from, to);
        assert_ne!(edited, issued.url, "{}", issued.url);
        assert!(store.resolve_url(&edited).is_ok(), "{edited}");
        let refused = store.verify_signature(&edited).await;
        assert!(
            matches!(refused, Err(AttachmentStoreError::LinkInvalid)),
            "{edited}"
        );
    }
}
