//! `mail/`: the IMAP and SMTP layer against the stack's Dovecot and Postfix, without HTTP.

mod imap;
mod smtp;
