//! A mail client's session on the stack's "basic" Dovecot (no MOVE, UIDPLUS, SPECIAL-USE
//! or CONDSTORE; folders below `INBOX.`), for tests that need a server without them.

use async_imap::Session;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{TestUser, stack};

/// A session on the basic server.
pub type BasicSession = Session<TlsStream<TcpStream>>;

/// `user` logged in to the basic server over IMAPS, as another mail client.
pub async fn basic_session(user: &TestUser) -> BasicSession {
    let stack = stack();
    let tcp = TcpStream::connect((stack.host.as_str(), stack.basic_imaps_port()))
        .await
        .expect("the basic server answers");
    let name = ServerName::try_from("localhost").expect("valid server name");
    let tls = TlsConnector::from(stack.tls_config())
        .connect(name, tcp)
        .await
        .expect("TLS to the basic server");
    let mut client = async_imap::Client::new(tls);
    client.read_response().await.unwrap().unwrap();
    client
        .login(&user.email, &user.password)
        .await
        .map_err(|(e, _)| e)
        .expect("login to the basic server")
}
