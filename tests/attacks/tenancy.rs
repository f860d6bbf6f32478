//! Attacks: tenancy (see main.rs).
