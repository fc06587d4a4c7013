//! Which monitor fields are secrets: blanked in every API response (`Monitor::redacted`) and,
//! when a client sends a blank back, kept from the stored monitor (`Monitor::keep_secrets_from`),
//! so reading a monitor and writing it back never loses a credential.

use std::fmt;

use crate::v1::http_check::Auth;
use crate::v1::monitor::Check;
use crate::v1::{Header, Monitor};

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
    /// A copy safe to return from an API or print: webhook secrets, HTTP passwords, bearer
    /// tokens and credential headers blanked (webhooks say `secret_set` instead).
    pub fn redacted(&self) -> Monitor {
        let mut m = self.clone();
        for w in &mut m.webhooks {
            w.secret_set = !w.secret.is_empty() || w.secret_set;
            w.secret.clear();
        }
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

    /// Fills every blank secret from `stored`: a webhook's secret from the stored webhook with
    /// the same URL, an HTTP password or bearer token from the stored check, a credential
    /// header from the stored header of the same name. Call it before validation.
    pub fn keep_secrets_from(&mut self, stored: &Monitor) {
        for w in self.webhooks.iter_mut().filter(|w| w.secret.is_empty()) {
            if let Some(old) = stored
                .webhooks
                .iter()
                .find(|o| o.url == w.url && !o.secret.is_empty())
            {
                w.secret = old.secret.clone();
            }
        }
        for w in &mut self.webhooks {
            w.secret_set = !w.secret.is_empty();
        }
        let (Some(Check::Http(new)), Some(Check::Http(old))) = (&mut self.check, &stored.check)
        else {
            return;
        };
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
    }
}

#[cfg(test)]
mod tests {
    use crate::v1::{BasicAuth, HttpCheck, Webhook};

    use super::*;

    fn monitor(auth: Auth) -> Monitor {
        Monitor {
            webhooks: vec![Webhook {
                url: "https://h/".into(),
                secret: "whsec".into(),
                secret_set: false,
            }],
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
        for secret in ["whsec", "pw", "Bearer abc", "\"k\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(r.webhooks[0].secret_set);
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
            assert_eq!(round_trip.webhooks[0].secret, "whsec");
            let mut expected = stored.clone();
            expected.webhooks[0].secret_set = true;
            assert_eq!(round_trip, expected);
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
}
