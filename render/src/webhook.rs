//! The generic webhook kind: the body (native, Uptinio or a template), headers, basic auth
//! and the signature of the chosen mode.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use lookout_proto::v1::{BodyFormat, SignatureMode, TemplateSyntax, WebhookIntegration};
use sha2::Sha256;

use crate::template::{self, Escape, MAX_OUTPUT_BYTES};
use crate::{Context, RenderError, Request, jsjson, native, uptinio};

pub const SIGNATURE_HEADER: &str = "x-lookout-signature";
pub const TIMESTAMP_HEADER: &str = "x-lookout-timestamp";
pub const DELIVERY_HEADER: &str = "x-lookout-delivery";

/// The largest body sent: the notifier's payload cap.
pub const MAX_BODY_BYTES: usize = MAX_OUTPUT_BYTES;

/// The request of webhook `w` for `ctx.event`.
pub fn render(w: &WebhookIntegration, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let syntax = TemplateSyntax::try_from(w.syntax).unwrap_or(TemplateSyntax::Unspecified);
    let mode = SignatureMode::try_from(w.signature).unwrap_or(SignatureMode::Unspecified);
    let url = render_url(syntax, &w.url, ctx)?;
    let (body, is_json) = body(w, syntax, ctx)?;
    if body.len() > MAX_BODY_BYTES {
        return Err(RenderError::new(
            "webhook.template",
            template::OVERFLOW_REASON,
        ));
    }
    // StatusPageOne's and Checkly's Node receivers sign `JSON.stringify(req.body)`, not the
    // bytes received: send exactly that form, so their snippets verify.
    let body = if is_json && matches!(mode, SignatureMode::Checkly | SignatureMode::Statuspageone) {
        jsjson::stringify(&body).map_err(|e| {
            RenderError::new(
                "webhook.template",
                format!("the rendered body is not JSON: {e}"),
            )
        })?
    } else {
        body
    };
    let method = if w.method.is_empty() {
        "POST".to_string()
    } else {
        w.method.to_ascii_uppercase()
    };
    let content_type = if is_json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    for (n, h) in w.headers.iter().enumerate() {
        let field = format!("webhook.headers[{n}].value");
        let value = template::render(syntax, &field, &h.value, ctx, Escape::Raw)?;
        if value.contains(['\r', '\n', '\0']) {
            return Err(RenderError::new(
                field,
                "renders to a line break or NUL, which no header may hold",
            ));
        }
        headers.push((h.name.to_ascii_lowercase(), value));
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
    headers.extend(signature_headers(w, mode, ctx, &body));
    Ok(Request {
        method,
        url,
        headers,
        body,
    })
}

/// The URL, its template rendered (values percent-encoded): an http(s) URL with a host.
fn render_url(syntax: TemplateSyntax, raw: &str, ctx: &Context<'_>) -> Result<String, RenderError> {
    if !raw.contains("{{") {
        return Ok(raw.to_string());
    }
    let url = template::render(syntax, "webhook.url", raw, ctx, Escape::Url)?;
    // The message never repeats the rendered URL: it may hold a secret.
    let parsed = url::Url::parse(&url).map_err(|e| {
        RenderError::new(
            "webhook.url",
            format!("renders to something that is not a URL: {e}"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(RenderError::new(
            "webhook.url",
            "renders to a URL that is not http(s) with a host",
        ));
    }
    Ok(url)
}

/// The body bytes, and whether they are JSON.
fn body(
    w: &WebhookIntegration,
    syntax: TemplateSyntax,
    ctx: &Context<'_>,
) -> Result<(Vec<u8>, bool), RenderError> {
    match BodyFormat::try_from(w.body).unwrap_or(BodyFormat::Unspecified) {
        BodyFormat::Unspecified | BodyFormat::Native => Ok((native::body(ctx.event), true)),
        BodyFormat::Uptinio => Ok((uptinio::body(ctx.event), true)),
        BodyFormat::Template => {
            let escape = if w.template_is_json {
                Escape::Json
            } else {
                Escape::Html
            };
            let text = template::render(syntax, "webhook.template", &w.template, ctx, escape)?;
            if w.template_is_json {
                jsjson::check(text.as_bytes()).map_err(|e| {
                    RenderError::new(
                        "webhook.template",
                        format!("the rendered body is not JSON: {e}"),
                    )
                })?;
            }
            Ok((text.into_bytes(), w.template_is_json))
        }
    }
}

/// Delivery id, timestamp and (with a secret) signature headers of the chosen mode.
fn signature_headers(
    w: &WebhookIntegration,
    mode: SignatureMode,
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
    match mode {
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
