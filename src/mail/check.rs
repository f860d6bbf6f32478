//! Checking a whole `MailAccount` for the login form: IMAP first, then SMTP only when IMAP
//! accepted, each with its own result, so a form can say which side failed and a wrong
//! IMAP password never reaches (or reveals anything about) the SMTP account.
//!
//! Login checks have their own small budget ([`LoginBudget`]): they never hold the IMAP
//! pool's connections that tenants' tool calls use, so a flood of sign-ins pointed at a
//! server that never answers can only use up this budget, not every tenant's calls.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::account::MailAccount;
use super::error::MailError;
use super::imap::Imap;
use super::smtp::Smtp;

/// The outcome of logging in to the servers of an account.
#[derive(Debug)]
pub struct LoginCheck {
    pub imap: Result<(), MailError>,
    /// `None` when SMTP was not tried because the IMAP login failed.
    pub smtp: Option<Result<(), MailError>>,
}

impl LoginCheck {
    /// True when both logins worked.
    pub fn is_ok(&self) -> bool {
        self.imap.is_ok() && matches!(self.smtp, Some(Ok(())))
    }

    /// The failures, IMAP first.
    pub fn errors(&self) -> impl Iterator<Item = &MailError> {
        let smtp = self.smtp.as_ref().and_then(|s| s.as_ref().err());
        [self.imap.as_ref().err(), smtp].into_iter().flatten()
    }
}

/// Logs in to the account's IMAP server, then (only if that worked) to its SMTP server,
/// and out again.
pub async fn verify_login(imap: &Imap, smtp: &Smtp, account: &MailAccount) -> LoginCheck {
    let imap = imap.check_login(&account.imap).await;
    let smtp = match imap {
        Ok(()) => Some(smtp.check_login(&account.smtp).await),
        Err(_) => None,
    };
    LoginCheck { imap, smtp }
}

/// How many login checks may run at once over all accounts; cheap to clone.
#[derive(Clone, Debug)]
pub struct LoginBudget {
    permits: Arc<Semaphore>,
}

/// Every login check slot is in use.
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins are being checked right now")]
pub struct BudgetSpent;

impl LoginBudget {
    pub fn new(max: usize) -> LoginBudget {
        LoginBudget {
            permits: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// [`verify_login`] within the budget; refuses at once (nothing connects) when every
    /// slot is taken.
    pub async fn verify(
        &self,
        imap: &Imap,
        smtp: &Smtp,
        account: &MailAccount,
    ) -> Result<LoginCheck, BudgetSpent> {
        let _permit = self.permits.try_acquire().map_err(|_| BudgetSpent)?;
        Ok(verify_login(imap, smtp, account).await)
    }
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
            identities: Vec::new(),
            imap: login.clone(),
            smtp: login,
        };
        let (imap, smtp) = (Imap::new(settings.clone()), Smtp::new(settings));
        assert_send(&verify_login(&imap, &smtp, &account));
        assert_send(&LoginBudget::new(1).verify(&imap, &smtp, &account));
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_at_once() {
        let budget = LoginBudget::new(1);
        let _held = budget.permits.try_acquire().unwrap();
        let settings = MailSettings::new(TlsSettings::public_roots());
        let login = ServerLogin {
            endpoint: Endpoint::new("mail.example.invalid", 993, Security::Tls),
            username: "u".into(),
            password: "p".into(),
        };
        let account = MailAccount {
            email: "u@example.com".into(),
            display_name: None,
            identities: Vec::new(),
            imap: login.clone(),
            smtp: login,
        };
        let (imap, smtp) = (Imap::new(settings.clone()), Smtp::new(settings));
        let refused = budget.verify(&imap, &smtp, &account).await;
        assert!(refused.is_err());
    }
}
