//! TLS trust for every mail connection: the public web PKI roots (webpki-roots) plus the
//! certificates of an optional extra CA file (a company or test CA). It owns the one
//! `rustls::ClientConfig` used for IMAP and the same trust expressed as lettre
//! `TlsParameters` for SMTP. Hostname verification is always on; nothing here can turn
//! it off.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;

use super::error::{MailError, first_line_capped};

/// Why the TLS trust could not be set up (a start-up configuration problem).
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read the CA file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {path} is not valid PEM: {reason}")]
    BadPem { path: PathBuf, reason: String },
    #[error("the CA file {path} contains no certificate (expected PEM \"BEGIN CERTIFICATE\")")]
    NoCertificate { path: PathBuf },
    #[error("a certificate in the CA file {path} was rejected: {reason}")]
    Rejected { path: PathBuf, reason: String },
}

/// The trust settings shared by all mail connections; cheap to clone.
#[derive(Clone)]
pub struct TlsSettings {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<ClientConfig>,
    extra_ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("extra_ca", &self.inner.extra_ca_pem.is_some())
            .finish()
    }
}

impl TlsSettings {
    /// Trusts the webpki roots plus every certificate in `extra_ca_file`, if given.
    pub fn new(extra_ca_file: Option<&Path>) -> Result<Self, TlsConfigError> {
        let pem = extra_ca_file.map(read_ca_file).transpose()?;
        let extra = match (&pem, extra_ca_file) {
            (Some(pem), Some(path)) => parse_certificates(pem, path)?,
            _ => Vec::new(),
        };
        let roots = root_store(extra, extra_ca_file)?;
        Ok(TlsSettings {
            inner: Arc::new(Inner {
                config: Arc::new(client_config(roots)),
                extra_ca_pem: pem,
            }),
        })
    }

    /// Trusts the webpki roots only.
    pub fn public_roots() -> Self {
        Self::new(None).expect("the webpki roots alone always load")
    }

    /// The rustls configuration for IMAP connections.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.inner.config)
    }

    /// A tokio-rustls connector over [`Self::client_config`].
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client_config())
    }

    /// The PEM text of the extra CA file, if one was given.
    pub fn extra_ca_pem(&self) -> Option<&[u8]> {
        self.inner.extra_ca_pem.as_deref()
    }

    /// The same trust for lettre, verifying the certificate against `host`.
    pub fn smtp_parameters(&self, host: &str) -> Result<TlsParameters, MailError> {
        let mut builder = TlsParameters::builder(host.to_owned());
        if let Some(pem) = self.extra_ca_pem() {
            let cert = Certificate::from_pem(pem).map_err(lettre_tls_error)?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build_rustls().map_err(lettre_tls_error)
    }
}

fn lettre_tls_error(err: lettre::transport::smtp::Error) -> MailError {
    MailError::Protocol(format!(
        "could not prepare TLS for SMTP: {}",
        first_line_capped(&err.to_string())
    ))
}

fn read_ca_file(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Unreadable {
        path: path.to_owned(),
        source,
    })
}

fn parse_certificates(
    pem: &[u8],
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::BadPem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn root_store(
    extra: Vec<CertificateDer<'static>>,
    path: Option<&Path>,
) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots.add(cert).map_err(|e| TlsConfigError::Rejected {
            path: path.map(Path::to_owned).unwrap_or_default(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn client_config(roots: RootCertStore) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mail_mcp_tls_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn public_roots_need_no_file() {
        let tls = TlsSettings::public_roots();
        assert!(tls.extra_ca_pem().is_none());
        assert!(tls.smtp_parameters("smtp.example.com").is_ok());
    }

    #[test]
    fn a_missing_file_is_reported_with_its_path() {
        let err = TlsSettings::new(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(matches!(err, TlsConfigError::Unreadable { .. }));
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path = temp_file("empty.pem", b"just some text\n");
        let err = TlsSettings::new(Some(&path)).unwrap_err();
        assert!(matches!(err, TlsConfigError::NoCertificate { .. }), "{err}");
    }

    #[test]
    fn a_garbled_certificate_is_refused() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let path = temp_file("garbled.pem", pem);
        assert!(TlsSettings::new(Some(&path)).is_err());
    }
}
