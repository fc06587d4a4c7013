//! The generic webhook kind: the body (native, Uptinio or a template), headers, basic auth
//! and the signature of the chosen mode.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use lookout_proto::v1::{SignatureMode, WebhookIntegration};
use sha2::Sha256;

use crate::{Context, RenderError, Request, native};

pub const SIGNATURE_HEADER: &str = "x-lookout-signature";
pub const TIMESTAMP_HEADER: &str = "x-lookout-timestamp";
pub const DELIVERY_HEADER: &str = "x-lookout-delivery";

/// The request of webhook `w` for `ctx.event`.
pub fn render(w: &WebhookIntegration, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let body = native::body(ctx.event);
    let method = if w.method.is_empty() {
        "POST".to_string()
    } else {
        w.method.to_ascii_uppercase()
    };
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    for h in &w.headers {
        headers.push((h.name.to_ascii_lowercase(), h.value.clone()));
    }
    if let Some(auth) = &w.basic_auth {
        headers.push((
            "authorization".into(),
            format!(
                "Basic {}",
                BASE64.encode(format!("{}:{}", auth.username, auth.password))
            ),
        ));
    }
    headers.extend(signature_headers(w, ctx, &body));
    Ok(Request {
        method,
        url: w.url.clone(),
        headers,
        body,
    })
}

/// Delivery id, timestamp and (with a secret) signature headers of the chosen mode.
fn signature_headers(
    w: &WebhookIntegration,
    ctx: &Context<'_>,
    body: &[u8],
) -> Vec<(String, String)> {
    let timestamp = ctx.now_unix_secs.to_string();
    let mut h = vec![
        (DELIVERY_HEADER.to_string(), ctx.delivery_id.to_string()),
        (TIMESTAMP_HEADER.to_string(), timestamp.clone()),
    ];
    if w.secret.is_empty() {
        return h;
    }
    let key = w.secret.as_bytes();
    match SignatureMode::try_from(w.signature).unwrap_or(SignatureMode::Unspecified) {
        SignatureMode::Unspecified | SignatureMode::Lookout => {
            h.push((
                SIGNATURE_HEADER.into(),
                lookout_signature(key, &timestamp, body),
            ));
        }
        SignatureMode::Checkly => {
            h.push((
                "x-checkly-signature".into(),
                hex::encode(hmac(key, &[body])),
            ));
            h.push(("x-checkly-timestamp".into(), timestamp));
        }
        SignatureMode::Statuspageone => {
            h.push((
                "x-statuspageone-signature".into(),
                format!("sha256={}", hex::encode(hmac(key, &[body]))),
            ));
        }
    }
    h
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`: the `lookout` scheme.
pub fn lookout_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac(secret, &[timestamp.as_bytes(), b".", body]))
    )
}

/// True when `header` is the `lookout` signature of `body` and `timestamp` under `secret`
/// (constant-time comparison): what a receiver runs before checking the timestamp's age.
pub fn verify_lookout(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}
