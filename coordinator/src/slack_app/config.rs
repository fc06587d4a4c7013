//! The Slack app's settings in the coordinator's config (`slack_app`): the OAuth client,
//! the signing secret of interactivity requests, where this coordinator is reachable, and
//! Slack's URLs (configurable, so tests and a relay can stand in for Slack).

use serde::Deserialize;
use url::Url;

use crate::config::{ConfigError, Secret};

/// Slack's Web API and OAuth authorize page.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_AUTHORIZE_URL: &str = "https://slack.com/oauth/v2/authorize";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAppConfig {
    /// The app's client id (Basic Information → App Credentials).
    pub client_id: String,
    pub client_secret: Secret,
    /// Verifies that interactivity requests (Resolve clicks) come from Slack.
    pub signing_secret: Secret,
    /// Where browsers and Slack reach this coordinator's HTTP API
    /// (`https://lookout.example.com`): the OAuth redirect is
    /// `{public_url}/auth/slack/callback?project_uuid=...` and the app's Interactivity
    /// Request URL `{public_url}/slack/interactivity`.
    pub public_url: String,
    /// Base URL of Slack's Web API (`oauth.v2.access`, `chat.postMessage`, `chat.update`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Slack's OAuth v2 authorize page.
    #[serde(default = "default_authorize_url")]
    pub authorize_url: String,
    /// Bot scopes asked for; `chat:write` (messages) and `incoming-webhook` (the user picks
    /// the channel while installing) are required.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// User scopes asked for (a user token), none by default.
    #[serde(default)]
    pub user_scopes: Vec<String>,
    /// Where the browser is sent after the callback, with `slack=connected&integration=<id>`
    /// or `slack=error&error=<code>` added to the query. Empty: the callback answers JSON.
    #[serde(default)]
    pub installed_url: String,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}
fn default_authorize_url() -> String {
    DEFAULT_AUTHORIZE_URL.into()
}
fn default_scopes() -> Vec<String> {
    vec!["chat:write".into(), "incoming-webhook".into()]
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: format!("slack_app.{field}"),
        reason: reason.into(),
    }
}

/// An absolute http(s) URL without credentials or fragment (`query` allowed or not).
fn url_setting(field: &str, raw: &str, query: bool) -> Result<Url, ConfigError> {
    let u = Url::parse(raw).map_err(|e| invalid(field, format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            field,
            format!("{raw:?} must be an http(s) URL with a host"),
        ));
    }
    if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
        return Err(invalid(field, "must not hold credentials or a fragment"));
    }
    if !query && u.query().is_some() {
        return Err(invalid(field, "must not have a query"));
    }
    Ok(u)
}

impl SlackAppConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 64
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.');
        if !id_ok {
            return Err(invalid(
                "client_id",
                "must be the app's client id: digits and dots, at most 64",
            ));
        }
        for (field, s) in [
            ("client_secret", &self.client_secret),
            ("signing_secret", &self.signing_secret),
        ] {
            let v = s.expose();
            if v.is_empty() || v.len() > 256 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(field, "must be 1-256 printable ASCII characters"));
            }
        }
        url_setting("public_url", &self.public_url, false)?;
        url_setting("api_url", &self.api_url, false)?;
        url_setting("authorize_url", &self.authorize_url, false)?;
        if !self.installed_url.is_empty() {
            url_setting("installed_url", &self.installed_url, true)?;
        }
        for (field, scopes) in [("scopes", &self.scopes), ("user_scopes", &self.user_scopes)] {
            if scopes.len() > 50 {
                return Err(invalid(field, "at most 50 scopes"));
            }
            for (i, s) in scopes.iter().enumerate() {
                let ok = !s.is_empty()
                    && s.len() <= 64
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b)
                    });
                if !ok {
                    return Err(invalid(
                        &format!("{field}[{i}]"),
                        format!("{s:?} is not a Slack scope (such as chat:write)"),
                    ));
                }
            }
        }
        for needed in ["chat:write", "incoming-webhook"] {
            if !self.scopes.iter().any(|s| s == needed) {
                return Err(invalid(
                    "scopes",
                    format!("must include {needed} (the app posts with it)"),
                ));
            }
        }
        Ok(())
    }

    /// `{public_url}/auth/slack/callback?project_uuid=<project>`: where Slack sends the
    /// browser back, the same in the authorize URL and in the code exchange.
    pub fn redirect_uri(&self, project: &str) -> String {
        let mut u = Url::parse(&self.public_url).unwrap_or_else(|_| {
            Url::parse("http://invalid.invalid").expect("a constant URL parses")
        });
        u.path_segments_mut()
            .map(|mut p| {
                p.pop_if_empty().extend(["auth", "slack", "callback"]);
            })
            .ok();
        u.query_pairs_mut().append_pair("project_uuid", project);
        u.to_string()
    }

    /// Slack's authorize URL for `state`, sending the browser back to `redirect_uri`.
    pub fn oauth_url(&self, state: &str, redirect_uri: &str) -> String {
        let mut u = Url::parse(&self.authorize_url)
            .unwrap_or_else(|_| Url::parse(DEFAULT_AUTHORIZE_URL).expect("a constant URL parses"));
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("scope", &self.scopes.join(","));
            if !self.user_scopes.is_empty() {
                q.append_pair("user_scope", &self.user_scopes.join(","));
            }
            q.append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state);
        }
        u.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change that makes a valid value invalid.
    type Change = fn(&mut SlackAppConfig);

    fn config() -> SlackAppConfig {
        SlackAppConfig {
            client_id: "123.456".into(),
            client_secret: Secret::new("cs"),
            signing_secret: Secret::new("ss"),
            public_url: "https://lookout.example.com/".into(),
            api_url: default_api_url(),
            authorize_url: default_authorize_url(),
            scopes: default_scopes(),
            user_scopes: vec![],
            installed_url: String::new(),
        }
    }

    #[test]
    fn urls() {
        let c = config();
        c.validate().expect("valid");
        let redirect = c.redirect_uri("prj_1");
        assert_eq!(
            redirect,
            "https://lookout.example.com/auth/slack/callback?project_uuid=prj_1"
        );
        let u = c.oauth_url("abc", &redirect);
        assert_eq!(
            u,
            "https://slack.com/oauth/v2/authorize?client_id=123.456&scope=chat%3Awrite%2Cincoming-webhook\
             &redirect_uri=https%3A%2F%2Flookout.example.com%2Fauth%2Fslack%2Fcallback%3Fproject_uuid%3Dprj_1&state=abc"
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: [(Change, &str); 6] = [
            (|c| c.client_id = "abc".into(), "slack_app.client_id"),
            (
                |c| c.signing_secret = Secret::new(""),
                "slack_app.signing_secret",
            ),
            (|c| c.public_url = "lookout".into(), "slack_app.public_url"),
            (|c| c.api_url = "https://x/?a=1".into(), "slack_app.api_url"),
            (|c| c.scopes = vec!["chat:write".into()], "slack_app.scopes"),
            (
                |c| c.user_scopes = vec!["Bad Scope".into()],
                "slack_app.user_scopes[0]",
            ),
        ];
        for (change, field) in cases {
            let mut c = config();
            change(&mut c);
            let e = c.validate().expect_err(field).to_string();
            assert!(e.starts_with(field), "{field}: {e}");
        }
    }
}
