//! `GET /health`: a liveness probe without authentication.

use axum::Json;
use serde_json::{Value, json};

#[tracing::instrument(level = "debug")]
pub async fn health() -> Json<Value> {
    Json(
        json!({ "status": "ok", "name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION") }),
    )
}
