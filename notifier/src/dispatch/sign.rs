//! Request signing: `x-lookout-signature: sha256=<hex HMAC-SHA256(secret, body)>` over the
//! exact body bytes, so receivers verify before parsing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "x-lookout-signature";
pub const TIMESTAMP_HEADER: &str = "x-lookout-timestamp";
pub const DELIVERY_HEADER: &str = "x-lookout-delivery";

/// The signature header value for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` is the signature of `body` under `secret` (constant-time comparison);
/// what a receiver runs.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Headers every attempt carries: delivery id, timestamp, and the signature when the
/// destination has a secret.
pub fn headers(
    delivery_id: &str,
    secret: &str,
    body: &[u8],
    unix_secs: i64,
) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (DELIVERY_HEADER, delivery_id.to_string()),
        (TIMESTAMP_HEADER, unix_secs.to_string()),
    ];
    if !secret.is_empty() {
        h.push((SIGNATURE_HEADER, signature(secret.as_bytes(), body)));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let cases: &[(&[u8], &[u8], &str, bool)] = &[
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                true,
            ),
            (
                b"Jefe",
                b"what do ya want for nothing!",
                "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                false,
            ),
            (
                b"jefe",
                b"what do ya want for nothing?",
                "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                false,
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                false,
            ),
            (b"Jefe", b"what do ya want for nothing?", "sha256=zz", false),
            (b"Jefe", b"what do ya want for nothing?", "sha256=", false),
        ];
        for (secret, body, header, ok) in cases {
            assert_eq!(verify(secret, body, header), *ok, "{header}");
        }
    }

    #[test]
    fn signature_only_with_a_secret() {
        let with = headers("dlv_1", "s", b"{}", 42);
        assert_eq!(with.len(), 3);
        assert!(with.contains(&(TIMESTAMP_HEADER, "42".to_string())));
        assert!(with.contains(&(DELIVERY_HEADER, "dlv_1".to_string())));
        assert!(verify(b"s", b"{}", &with[2].1));
        assert!(
            headers("dlv_1", "", b"{}", 42)
                .iter()
                .all(|(n, _)| *n != SIGNATURE_HEADER)
        );
    }
}
