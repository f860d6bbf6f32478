//! Opening tokens: any string presented as a token of any purpose, and any payload
//! sealed with our own key (so opening gets past decryption to the claim checks), is
//! refused with a `TokenError` or opened, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_mcp::fuzzing::seal_raw_payload;
use mail_mcp::token::{
    AccessClaims, ClientClaims, CodeClaims, FormClaims, Keyring, Purpose, RefreshClaims, TokenCodec,
};

const ISSUER: &str = "https://mail.example";
const RESOURCE: &str = "https://mail.example/mcp";

fn codec() -> TokenCodec {
    let keyring = Keyring::new([[7u8; mail_mcp::token::KEY_LEN]]).expect("a valid key");
    TokenCodec::new(keyring, ISSUER, RESOURCE)
}

/// Opens `token` as every purpose with its claims type, at an arbitrary time too.
fn open_all(codec: &TokenCodec, token: &str, now: i64) {
    for purpose in Purpose::ALL {
        let _ = codec.open::<serde_json::Value>(purpose, token);
        let _ = codec.open_at::<serde_json::Value>(purpose, token, now);
    }
    let _ = codec.open::<ClientClaims>(Purpose::Client, token);
    let _ = codec.open::<CodeClaims>(Purpose::Code, token);
    let _ = codec.open::<AccessClaims>(Purpose::Access, token);
    let _ = codec.open::<RefreshClaims>(Purpose::Refresh, token);
    let _ = codec.open::<FormClaims>(Purpose::Form, token);
    let _ = codec.open_with_id::<ClientClaims>(Purpose::Client, token);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let codec = codec();
    let now = i64::from_le_bytes(*rest.first_chunk::<8>().unwrap_or(&[0; 8]));
    match mode % 2 {
        0 => open_all(&codec, &String::from_utf8_lossy(rest), now),
        _ => {
            if let Ok(token) = seal_raw_payload(&codec, rest) {
                open_all(&codec, &token, now);
            }
        }
    }
});
