//! Validation of integrations as they are saved: every setting, then a rendering against the
//! sample event, so an integration that is accepted renders (bad templates are refused here,
//! naming the line and column, not at 3 a.m.).

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    BodyFormat, Integration, SignatureMode, TemplateSyntax, WebhookIntegration,
};
use lookout_proto::validate::FieldError;

use crate::{Context, Variables, render, sample_event};

pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 60_000;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_URL_BYTES: usize = 2048;
pub const MAX_HEADERS: usize = 32;
pub const MAX_SECRET_BYTES: usize = 1024;
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

pub(crate) fn err(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks `i` and fills its defaults (name, rate limit, method); `variables` are the
/// project's, which templates may use. The returned integration renders for every event.
pub fn validate(mut i: Integration, variables: &Variables) -> Result<Integration, FieldError> {
    if i.id.len() > 64 {
        return Err(err("id", "is longer than 64 bytes"));
    }
    i.name = i.name.trim().to_string();
    if i.name.chars().count() > MAX_NAME_CHARS {
        return Err(err(
            "name",
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if i.rate_limit_per_minute == 0 {
        i.rate_limit_per_minute = DEFAULT_RATE_LIMIT_PER_MINUTE;
    }
    if i.rate_limit_per_minute > MAX_RATE_LIMIT_PER_MINUTE {
        return Err(err(
            "rate_limit_per_minute",
            format!("must be at most {MAX_RATE_LIMIT_PER_MINUTE}"),
        ));
    }
    match &mut i.kind {
        None => return Err(err("kind", "is required (webhook, slack, discord, ...)")),
        Some(Kind::Webhook(w)) => webhook(w)?,
        Some(Kind::Email(e)) => {
            lookout_proto::validate::email::email_integration(e)?;
            if i.name.is_empty() {
                // As the Uptinio document names it: the address.
                i.name = e.email.clone();
            }
            // Nothing of it is templated: the mail always renders.
            return Ok(i);
        }
        Some(Kind::SshRestart(s)) => {
            lookout_proto::validate::ssh::ssh_restart(s)?;
            if i.name.is_empty() {
                // As the Uptinio document names it: `192.168.1.100 (admin)`.
                i.name = format!("{} ({})", s.ip, s.username);
            }
            return Ok(i);
        }
        Some(k) => crate::presets::validate(k)?,
    }
    if i.name.is_empty() {
        i.name = match &i.kind {
            Some(Kind::Sms(s)) => format!("SMS {}", s.phone_number),
            Some(Kind::SlackApp(s)) => crate::presets::slack_app::default_name(s),
            _ => crate::kind_name(&i).to_string(),
        };
    }
    if matches!(i.kind, Some(Kind::Sms(_))) {
        // Sent with the deployment's Twilio account, not rendered from the integration
        // alone; its text is made for every event and never fails.
        return Ok(i);
    }
    let ev = sample_event();
    let ctx = Context {
        event: &ev,
        delivery_id: "dlv_sample",
        now_unix_secs: 1_705_314_615,
        variables,
    };
    render(&i, &ctx).map_err(|e| e.0)?;
    Ok(i)
}

fn webhook(w: &mut WebhookIntegration) -> Result<(), FieldError> {
    http_url("webhook.url", &w.url)?;
    w.method = if w.method.is_empty() {
        "POST".into()
    } else {
        w.method.trim().to_ascii_uppercase()
    };
    if !matches!(w.method.as_str(), "POST" | "PUT" | "PATCH" | "GET") {
        return Err(err("webhook.method", "must be POST, PUT, PATCH or GET"));
    }
    if w.headers.len() > MAX_HEADERS {
        return Err(err("webhook.headers", format!("at most {MAX_HEADERS}")));
    }
    for (n, h) in w.headers.iter().enumerate() {
        lookout_proto::validate::header(&format!("webhook.headers[{n}]"), h)?;
    }
    if w.secret.len() > MAX_SECRET_BYTES {
        return Err(err(
            "webhook.secret",
            format!("is longer than {MAX_SECRET_BYTES} bytes"),
        ));
    }
    if w.template.len() > MAX_TEMPLATE_BYTES {
        return Err(err(
            "webhook.template",
            format!("is longer than {MAX_TEMPLATE_BYTES} bytes"),
        ));
    }
    let body = BodyFormat::try_from(w.body)
        .map_err(|_| err("webhook.body", format!("{} is not a body format", w.body)))?;
    TemplateSyntax::try_from(w.syntax).map_err(|_| {
        err(
            "webhook.syntax",
            format!("{} is not a template syntax", w.syntax),
        )
    })?;
    SignatureMode::try_from(w.signature).map_err(|_| {
        err(
            "webhook.signature",
            format!("{} is not a signature mode", w.signature),
        )
    })?;
    // A template with another body format would be silently ignored: refuse the mix-up. An
    // empty template is a request without a body (Checkly's Trello example).
    if body != BodyFormat::Template && !w.template.is_empty() {
        return Err(err(
            "webhook.template",
            "is set, but webhook.body is not BODY_FORMAT_TEMPLATE",
        ));
    }
    if body != BodyFormat::Template && w.template_is_json {
        return Err(err(
            "webhook.template_is_json",
            "applies to BODY_FORMAT_TEMPLATE only",
        ));
    }
    // The rendering against the sample event (in `validate`) checks the templates
    // themselves: syntax, unknown variables, JSON, size.
    Ok(())
}

/// An absolute http(s) URL with a host, at most [`MAX_URL_BYTES`]. Template variables
/// (`{{...}}`) are allowed anywhere; the URL is checked again once rendered.
pub fn http_url(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.is_empty() {
        return Err(err(field, "is required"));
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(err(field, format!("is longer than {MAX_URL_BYTES} bytes")));
    }
    if raw.contains("{{") {
        return Ok(());
    }
    let u = url::Url::parse(raw).map_err(|e| err(field, format!("is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err(field, "must be an http or https URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(err(field, "has no host"));
    }
    Ok(())
}
