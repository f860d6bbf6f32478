//! Attacks: hostile_imap (see main.rs).
