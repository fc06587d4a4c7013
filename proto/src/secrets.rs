//! Which monitor fields are secrets: blanked in every API response (`Monitor::redacted`) and,
//! when a client sends a blank back, kept from the stored monitor (`Monitor::keep_secrets_from`),
//! so reading a monitor and writing it back never loses a credential. A credential is kept only
//! for the origin it was given for: pointing a check at another scheme, host or port without
//! sending its secrets again clears them.

use std::fmt;

use crate::v1::http_check::Auth;
use crate::v1::integration::Kind;
use crate::v1::monitor::Check;
use crate::v1::{Header, Integration, Monitor};

/// What replaces a credential inside a redacted webhook URL.
pub const REDACTED: &str = "***";

/// Query parameter names whose values are credentials (compared lowercase, `-` as `_`).
const SECRET_PARAMS: [&str; 12] = [
    "token",
    "key",
    "secret",
    "sig",
    "signature",
    "api_key",
    "apikey",
    "access_token",
    "auth",
    "password",
    "code",
    "hash",
];

fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    SECRET_PARAMS.contains(&n.as_str())
        || ["_token", "_secret", "_key", "_sig", "_signature"]
            .iter()
            .any(|s| n.ends_with(s))
}

/// The URL with its credentials replaced by `***`, or `None` when it carries none: userinfo,
/// credential query parameters (`token`, `key`, `secret`, `sig`, `signature`, `api_key`,
/// `access_token`, ... and names ending in `_token`, `_secret`, `_key`), and the secret path of
/// Slack (`hooks.slack.com/services/...`) and Discord (`discord.com/api/webhooks/<id>/...`)
/// webhooks.
pub fn redact_url(raw: &str) -> Option<String> {
    let mut u = url::Url::parse(raw).ok()?;
    let mut changed = false;
    if !u.username().is_empty() || u.password().is_some() {
        // Either part may be the credential (`https://TOKEN@host/`).
        let _ = u.set_password(None);
        let _ = u.set_username(REDACTED);
        changed = true;
    }
    if u.query_pairs().any(|(k, _)| secret_param(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_param(&k) {
                    REDACTED.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    let secret_path = match host.as_str() {
        "hooks.slack.com" => Some("/services/"),
        "discord.com" | "discordapp.com" | "ptb.discord.com" | "canary.discord.com" => {
            Some("/api/webhooks/")
        }
        _ => None,
    };
    if let Some(prefix) =
        secret_path.filter(|p| u.path().len() > p.len() && u.path().starts_with(p))
    {
        u.set_path(&format!("{prefix}{REDACTED}"));
        changed = true;
    }
    changed.then(|| u.to_string())
}

/// Scheme, host and port: where a credential may be sent.
fn origin(raw: &str) -> Option<(String, String, u16)> {
    let u = url::Url::parse(raw).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?,
    ))
}

/// A secret from a config file or the environment (a token, a password). `Debug` never shows
/// it; read it with [`Secret::expose`] only where it goes on the wire.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Header names whose values are credentials: blanked in responses, and sent by the agent only
/// to a check's configured origin, never after a redirect to another one.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || n.contains("token")
        || n.contains("secret")
        || n.contains("api-key")
        || n.contains("apikey")
}

impl Monitor {
    /// A copy safe to return from an API or print: HTTP passwords, bearer tokens and
    /// credential headers blanked.
    pub fn redacted(&self) -> Monitor {
        let mut m = self.clone();
        if let Some(Check::Http(h)) = &mut m.check {
            match &mut h.auth {
                Some(Auth::BasicAuth(b)) => b.password.clear(),
                Some(Auth::BearerToken(t)) => t.clear(),
                None => {}
            }
            for hd in h.headers.iter_mut().filter(|hd| is_secret_header(&hd.name)) {
                hd.value.clear();
            }
        }
        m
    }

    /// Fills every blank secret from `stored`: when the HTTP check still points at the same
    /// origin (scheme, host, port), its password or bearer token and credential headers from
    /// the stored check. Call it before validation. Returns whether stored HTTP credentials
    /// were withheld because the origin changed.
    pub fn keep_secrets_from(&mut self, stored: &Monitor) -> bool {
        let (Some(Check::Http(new)), Some(Check::Http(old))) = (&mut self.check, &stored.check)
        else {
            return false;
        };
        if origin(&new.url).is_none() || origin(&new.url) != origin(&old.url) {
            // A stored credential never follows the check to a new destination.
            return old.auth.is_some() || old.headers.iter().any(|h| is_secret_header(&h.name));
        }
        match (&mut new.auth, &old.auth) {
            (Some(Auth::BasicAuth(n)), Some(Auth::BasicAuth(o)))
                if n.password.is_empty() && n.username == o.username =>
            {
                n.password = o.password.clone();
            }
            (Some(Auth::BearerToken(n)), Some(Auth::BearerToken(o))) if n.is_empty() => {
                *n = o.clone()
            }
            _ => {}
        }
        for hd in new
            .headers
            .iter_mut()
            .filter(|hd| hd.value.is_empty() && is_secret_header(&hd.name))
        {
            if let Some(Header { value, .. }) = old
                .headers
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&hd.name))
            {
                hd.value = value.clone();
            }
        }
        false
    }
}

/// Every secret setting of an integration, each with its field path.
fn integration_secrets(i: &mut Integration) -> Vec<(&'static str, &mut String)> {
    let mut out: Vec<(&'static str, &mut String)> = Vec::new();
    match &mut i.kind {
        Some(Kind::Webhook(w)) => {
            out.push(("webhook.secret", &mut w.secret));
            if let Some(b) = &mut w.basic_auth {
                out.push(("webhook.basic_auth.password", &mut b.password));
            }
            for h in w.headers.iter_mut().filter(|h| is_secret_header(&h.name)) {
                out.push(("webhook.headers", &mut h.value));
            }
        }
        Some(Kind::Slack(k)) => out.push(("slack.url", &mut k.url)),
        Some(Kind::Discord(k)) => out.push(("discord.url", &mut k.url)),
        Some(Kind::Telegram(k)) => out.push(("telegram.bot_token", &mut k.bot_token)),
        Some(Kind::Mattermost(k)) => out.push(("mattermost.url", &mut k.url)),
        Some(Kind::Teams(k)) => out.push(("teams.url", &mut k.url)),
        Some(Kind::Pagerduty(k)) => out.push(("pagerduty.routing_key", &mut k.routing_key)),
        Some(Kind::Opsgenie(k)) => out.push(("opsgenie.api_key", &mut k.api_key)),
        Some(Kind::Pushover(k)) => {
            out.push(("pushover.token", &mut k.token));
            out.push(("pushover.user_key", &mut k.user_key));
        }
        Some(Kind::Sms(_)) => {}
        Some(Kind::SlackApp(k)) => {
            out.push(("slack_app.bot_token", &mut k.bot_token));
            out.push(("slack_app.user_token", &mut k.user_token));
            out.push(("slack_app.webhook_url", &mut k.webhook_url));
        }
        Some(Kind::Email(k)) => {
            if let Some(s) = &mut k.smtp {
                out.push(("email.smtp.password", &mut s.password));
            }
        }
        Some(Kind::SshRestart(k)) => {
            out.push(("ssh_restart.password", &mut k.password));
            out.push(("ssh_restart.private_key", &mut k.private_key));
            out.push((
                "ssh_restart.private_key_passphrase",
                &mut k.private_key_passphrase,
            ));
        }
        None => {}
    }
    out
}

/// Whether `new` points an SSH restart or an email integration's own SMTP server at another
/// host or port than `stored` (ports compared as given, 0 meaning the default).
fn moved_server(new: &Integration, stored: &Integration) -> bool {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    match (&new.kind, &stored.kind) {
        (Some(Kind::SshRestart(n)), Some(Kind::SshRestart(o))) => {
            let port = |p: u32| if p == 0 { 22 } else { p };
            !same(&n.ip, &o.ip) || port(n.port) != port(o.port)
        }
        (Some(Kind::Email(n)), Some(Kind::Email(o))) => match (&n.smtp, &o.smtp) {
            (Some(n), Some(o)) => !same(&n.host, &o.host) || (n.port != 0 && n.port != o.port),
            _ => false,
        },
        _ => false,
    }
}

impl Integration {
    /// A copy safe to return from an API or print: every secret setting that is set reads
    /// `***`, and credentials in a webhook URL are replaced by `***` ([`redact_url`]).
    pub fn redacted(&self) -> Integration {
        let mut i = self.clone();
        for (_, v) in integration_secrets(&mut i) {
            if !v.is_empty() {
                *v = REDACTED.to_string();
            }
        }
        if let Some(Kind::Webhook(w)) = &mut i.kind
            && let Some(url) = redact_url(&w.url)
        {
            w.url = url;
        }
        i
    }

    /// The values of every secret setting (for redacting them from delivery logs).
    pub fn secret_values(&self) -> Vec<String> {
        let mut i = self.clone();
        let mut out: Vec<String> = integration_secrets(&mut i)
            .into_iter()
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        if let Some(Kind::Webhook(w)) = &self.kind
            && let Ok(u) = url::Url::parse(&w.url)
            && let Some(p) = u.password()
        {
            out.push(p.to_string());
        }
        out
    }

    /// Fills every secret sent back as `***` from `stored` (same kind, same field); a webhook
    /// URL sent back redacted keeps the stored URL it redacts. Call it before validation.
    pub fn keep_secrets_from(&mut self, stored: &Integration) {
        if let (Some(Kind::Webhook(new)), Some(Kind::Webhook(old))) = (&mut self.kind, &stored.kind)
            && redact_url(&old.url).is_some_and(|r| r == new.url)
        {
            new.url = old.url.clone();
        }
        if moved_server(self, stored) {
            // A stored login never follows the integration to another server: the "***"
            // left in place is refused, asking for the secret itself.
            return;
        }
        let mut old = stored.clone();
        let old_secrets = integration_secrets(&mut old);
        let mut used = vec![false; old_secrets.len()];
        for (field, v) in integration_secrets(self) {
            if v != REDACTED {
                continue;
            }
            if let Some(j) = old_secrets
                .iter()
                .enumerate()
                .position(|(j, (f, _))| !used[j] && *f == field)
            {
                used[j] = true;
                *v = old_secrets[j].1.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::v1::{BasicAuth, HttpCheck};

    use super::*;

    fn monitor(auth: Auth) -> Monitor {
        Monitor {
            check: Some(Check::Http(HttpCheck {
                url: "https://a/".into(),
                auth: Some(auth),
                headers: vec![
                    Header {
                        name: "Authorization".into(),
                        value: "Bearer abc".into(),
                    },
                    Header {
                        name: "X-Api-Key".into(),
                        value: "k".into(),
                    },
                    Header {
                        name: "Accept".into(),
                        value: "text/html".into(),
                    },
                ],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn secret_debug_hides_the_value() {
        assert_eq!(format!("{:?}", Secret::new("tok")), "***");
    }

    #[test]
    fn redaction_blanks_every_secret_and_keeps_the_rest() {
        let m = monitor(Auth::BasicAuth(BasicAuth {
            username: "u".into(),
            password: "pw".into(),
        }));
        let r = m.redacted();
        let text = format!("{r:?}");
        for secret in ["pw", "Bearer abc", "\"k\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("text/html"));
    }

    #[test]
    fn blanks_sent_back_keep_the_stored_secrets() {
        for auth in [
            Auth::BasicAuth(BasicAuth {
                username: "u".into(),
                password: "pw".into(),
            }),
            Auth::BearerToken("tok".into()),
        ] {
            let stored = monitor(auth);
            let mut round_trip = stored.redacted();
            round_trip.keep_secrets_from(&stored);
            assert_eq!(round_trip, stored);
        }
    }

    #[test]
    fn a_new_password_replaces_the_stored_one() {
        let stored = monitor(Auth::BasicAuth(BasicAuth {
            username: "u".into(),
            password: "old".into(),
        }));
        let mut m = monitor(Auth::BasicAuth(BasicAuth {
            username: "u".into(),
            password: "new".into(),
        }));
        m.keep_secrets_from(&stored);
        let Some(Check::Http(h)) = m.check else {
            panic!("http")
        };
        assert_eq!(
            h.auth,
            Some(Auth::BasicAuth(BasicAuth {
                username: "u".into(),
                password: "new".into()
            }))
        );
    }

    #[test]
    fn a_new_origin_does_not_inherit_stored_credentials() {
        let stored = monitor(Auth::BearerToken("tok".into()));
        for url in ["https://b/", "http://a/", "https://a:8443/"] {
            let mut m = stored.redacted();
            if let Some(Check::Http(h)) = &mut m.check {
                h.url = url.into();
            }
            m.keep_secrets_from(&stored);
            let text = format!("{m:?}");
            for secret in ["\"tok\"", "Bearer abc", "\"k\""] {
                assert!(!text.contains(secret), "{url}: {secret} followed: {text}");
            }
        }
        // Same origin, another path: the credentials stay.
        let mut m = stored.redacted();
        if let Some(Check::Http(h)) = &mut m.check {
            h.url = "https://a:443/other".into();
        }
        m.keep_secrets_from(&stored);
        assert!(format!("{m:?}").contains("\"tok\""));
    }

    #[test]
    fn webhook_urls_with_credentials_are_redacted_and_kept() {
        let cases = [
            (
                "https://user:pw@h.example/x",
                Some("https://***@h.example/x"),
            ),
            (
                "https://h.example/x?a=1&token=t0k&api-key=k",
                Some("https://h.example/x?a=1&token=***&api-key=***"),
            ),
            (
                "https://h.example/x?sig=s&X-Amz-Signature=s2",
                Some("https://h.example/x?sig=***&X-Amz-Signature=***"),
            ),
            (
                "https://hooks.slack.com/services/T0/B0/XXXX",
                Some("https://hooks.slack.com/services/***"),
            ),
            (
                "https://discord.com/api/webhooks/123/abc",
                Some("https://discord.com/api/webhooks/***"),
            ),
            ("https://h.example/hook?team=ops", None),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url).as_deref(), want, "{url}");
        }
        let stored = Integration {
            kind: Some(Kind::Webhook(crate::v1::WebhookIntegration {
                url: "https://hooks.slack.com/services/T0/B0/XXXX".into(),
                secret: "whsec".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let shown = stored.redacted();
        assert!(!format!("{shown:?}").contains("XXXX"));
        assert!(!format!("{shown:?}").contains("whsec"));
        let mut back = shown.clone();
        back.keep_secrets_from(&stored);
        assert_eq!(back, stored);
    }
}
