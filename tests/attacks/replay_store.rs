//! Attacks: replay_store (see main.rs).
