//! A TLS server whose certificate nobody trusts, for the TLS fault tests: a self-signed
//! certificate for `127.0.0.1` made at start by the openssl CLI (a second one, not from
//! the stack's test CA), on a port of its own. It completes the TCP connection and offers
//! the certificate; a client that verifies (ours always does) ends the handshake.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running untrusted TLS endpoint on 127.0.0.1.
pub struct UntrustedTls {
    pub port: u16,
    task: JoinHandle<()>,
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UntrustedTls {
    /// Makes a fresh self-signed certificate and listens; each accepted connection gets
    /// a handshake (and, should a client ever accept it, an IMAP greeting).
    pub async fn start() -> UntrustedTls {
        let dir = std::env::temp_dir().join(format!("untrusted-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = Arc::new(server_config(&dir));
        std::fs::remove_dir_all(&dir).ok();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.write_all(b"* OK untrusted\r\n").await;
                    }
                });
            }
        });
        UntrustedTls { port, task }
    }
}

/// A rustls server config with a new self-signed EC certificate for 127.0.0.1.
fn server_config(dir: &Path) -> rustls::ServerConfig {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap()
}
