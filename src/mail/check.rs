//! Checking a whole `MailAccount` at once: IMAP and SMTP logins in parallel, each with its
//! own result, so a login form can say exactly which side failed.

use super::account::MailAccount;
use super::error::MailError;
use super::imap::Imap;
use super::smtp::Smtp;

/// The outcome of logging in to both servers of an account.
#[derive(Debug)]
pub struct LoginCheck {
    pub imap: Result<(), MailError>,
    pub smtp: Result<(), MailError>,
}

impl LoginCheck {
    /// True when both logins worked.
    pub fn is_ok(&self) -> bool {
        self.imap.is_ok() && self.smtp.is_ok()
    }

    /// The failures, IMAP first.
    pub fn errors(&self) -> impl Iterator<Item = &MailError> {
        [self.imap.as_ref().err(), self.smtp.as_ref().err()]
            .into_iter()
            .flatten()
    }
}

/// Logs in to the account's IMAP and SMTP servers in parallel and out again.
pub async fn verify_login(imap: &Imap, smtp: &Smtp, account: &MailAccount) -> LoginCheck {
    let (imap, smtp) = tokio::join!(
        imap.check_login(&account.imap),
        smtp.check_login(&account.smtp)
    );
    LoginCheck { imap, smtp }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{Endpoint, MailSettings, Security, ServerLogin, TlsSettings};

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn verify_login_is_send() {
        let settings = MailSettings::new(TlsSettings::public_roots());
        let login = ServerLogin {
            endpoint: Endpoint::new("mail.example.com", 993, Security::Tls),
            username: "u".into(),
            password: "p".into(),
        };
        let account = MailAccount {
            email: "u@example.com".into(),
            display_name: None,
            imap: login.clone(),
            smtp: login,
        };
        let (imap, smtp) = (Imap::new(settings.clone()), Smtp::new(settings));
        assert_send(&verify_login(&imap, &smtp, &account));
    }
}
