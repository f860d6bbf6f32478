//! `attachments/`: the attachment stores.

mod store;
