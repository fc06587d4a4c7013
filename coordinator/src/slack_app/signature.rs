//! Slack's request signature (`v0`): `X-Slack-Signature: v0=<hex HMAC-SHA256(signing
//! secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")>`, refused when the timestamp is
//! more than five minutes from now (a replayed request) or the MAC differs (compared in
//! constant time).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Largest distance between the request's timestamp and now.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request is not Slack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("x-slack-request-timestamp: is missing or not a Unix time")]
    Timestamp,
    #[error("x-slack-request-timestamp: is more than 5 minutes from now")]
    Stale,
    #[error("x-slack-signature: is missing or not v0=<hex>")]
    Malformed,
    #[error("x-slack-signature: does not match the request")]
    Mismatch,
}

/// Checks `signature` over `timestamp` and `body` with `secret`, at `now_secs`.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let ts_text = timestamp.map(str::trim).unwrap_or("");
    let ts: i64 = ts_text.parse().map_err(|_| SignatureError::Timestamp)?;
    if ts.abs_diff(now_secs) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .and_then(|s| s.trim().strip_prefix("v0="))
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(ts_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's own example (api.slack.com, "Verifying requests from Slack").
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_example_and_its_refusals() {
        let now = 1_531_420_618;
        assert_eq!(verify(SECRET, Some(TS), Some(SIG), BODY, now), Ok(()));
        assert_eq!(verify(SECRET, Some(TS), Some(SIG), BODY, now + 300), Ok(()));
        let cases = [
            (Some(TS), Some(SIG), now + 301, SignatureError::Stale),
            (Some(TS), Some(SIG), now - 301, SignatureError::Stale),
            (None, Some(SIG), now, SignatureError::Timestamp),
            (Some("soon"), Some(SIG), now, SignatureError::Timestamp),
            (Some(TS), None, now, SignatureError::Malformed),
            (Some(TS), Some("v1=abcd"), now, SignatureError::Malformed),
            (Some(TS), Some("v0=zz"), now, SignatureError::Malformed),
            (Some(TS), Some("v0=abcd"), now, SignatureError::Mismatch),
            (Some("1531420619"), Some(SIG), now, SignatureError::Mismatch),
        ];
        for (ts, sig, at, want) in cases {
            assert_eq!(
                verify(SECRET, ts, sig, BODY, at),
                Err(want),
                "{ts:?} {sig:?} {at}"
            );
        }
        assert_eq!(
            verify(b"another-secret", Some(TS), Some(SIG), BODY, now),
            Err(SignatureError::Mismatch)
        );
        let mut altered = BODY.to_vec();
        altered[0] = b'T';
        assert_eq!(
            verify(SECRET, Some(TS), Some(SIG), &altered, now),
            Err(SignatureError::Mismatch)
        );
    }
}
