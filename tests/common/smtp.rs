//! SMTP into the stack: incoming mail over the unauthenticated port (as another server
//! would deliver it), and a submission transport for a user.

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{TestUser, stack};

/// Sends `raw` with envelope `from` -> `to` over the plain SMTP port, so that the stored
/// message ends exactly like `raw`; the error is the server's answer (mail for another
/// domain is refused).
pub async fn try_deliver(
    from: &str,
    to: &[&str],
    raw: &[u8],
) -> Result<Response, lettre::transport::smtp::Error> {
    let stack = stack();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(stack.host.as_str())
        .port(stack.smtp_port)
        .build()
        .send_raw(&envelope(from, to), wire(raw))
        .await
}

/// Delivers `raw` to the mailboxes `to` as incoming mail, like a foreign server would.
/// It reaches the INBOXes 20-80 ms later: use `wait_for_messages`.
pub async fn deliver(from: &str, to: &[&str], raw: &[u8]) {
    try_deliver(from, to, raw)
        .await
        .unwrap_or_else(|e| panic!("delivery {from} -> {to:?} failed: {e}"));
}

/// An SMTP transport logged in as `user` on the submission port (STARTTLS required,
/// test CA trusted); `tls_wrapper` uses the SMTPS port instead. Note that its `send_raw`
/// adds an empty line to a message that ends with `\r\n` (see [`try_submit`]).
pub fn submission_transport(
    user: &TestUser,
    tls_wrapper: bool,
) -> AsyncSmtpTransport<Tokio1Executor> {
    let stack = stack();
    let ca = Certificate::from_pem(&stack.ca_pem()).expect("test CA is PEM");
    let tls = TlsParameters::builder("localhost".to_string())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(ca)
        .build_rustls()
        .expect("TLS parameters");
    let (port, tls) = if tls_wrapper {
        (stack.smtps_port, Tls::Wrapper(tls))
    } else {
        (stack.submission_port, Tls::Required(tls))
    };
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(port)
        .tls(tls)
        .credentials(Credentials::new(user.email.clone(), user.password.clone()))
        .build()
}

/// Sends `raw` as `user` with envelope `from` -> `to` through submission (STARTTLS) or,
/// with `tls_wrapper`, SMTPS; the stored message ends exactly like `raw`.
pub async fn try_submit(
    user: &TestUser,
    tls_wrapper: bool,
    from: &str,
    to: &[&str],
    raw: &[u8],
) -> Result<Response, lettre::transport::smtp::Error> {
    submission_transport(user, tls_wrapper)
        .send_raw(&envelope(from, to), wire(raw))
        .await
}

/// lettre ends DATA with `\r\n.\r\n` even when the message already ends with a line
/// break, which adds an empty line to it; drop one trailing `\r\n` to compensate.
fn wire(raw: &[u8]) -> &[u8] {
    raw.strip_suffix(b"\r\n").unwrap_or(raw)
}

fn envelope(from: &str, to: &[&str]) -> Envelope {
    let parse = |a: &str| {
        a.parse::<Address>()
            .unwrap_or_else(|e| panic!("bad address {a:?}: {e}"))
    };
    Envelope::new(Some(parse(from)), to.iter().map(|a| parse(a)).collect())
        .unwrap_or_else(|e| panic!("bad envelope {from} -> {to:?}: {e}"))
}
