//! Attacks: client_documents (see main.rs).
