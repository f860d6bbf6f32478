//! Attacks: login_limits (see main.rs).
