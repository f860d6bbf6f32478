//! `mail/`: the IMAP and SMTP layer against the stack's Dovecot and Postfix, without HTTP;
//! `sasl`: bearer-token sign-in (XOAUTH2, OAUTHBEARER) against `bin/oauth-stack`;
//! `bearer`: `Imap` and `Smtp` signing in with such tokens.

mod bearer;
mod imap;
mod sasl;
mod smtp;
