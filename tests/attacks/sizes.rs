//! Attacks: sizes (see main.rs).
