//! Project variables usable in templates (`{{JIRA_TOKEN}}`), and the redaction of secret
//! values from anything shown or logged.

use std::collections::BTreeMap;

/// Values shorter than this are not redacted by search and replace (it would mangle text);
/// such short secrets are still never printed on their own.
const MIN_REDACTED_LEN: usize = 4;

/// A project's variables by name.
#[derive(Clone, Default)]
pub struct Variables {
    entries: BTreeMap<String, (String, bool)>,
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Variables {
    pub fn new() -> Variables {
        Variables::default()
    }

    /// Adds or replaces `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>, secret: bool) {
        self.entries.insert(name.into(), (value.into(), secret));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|(v, _)| v.as_str())
    }

    pub fn is_secret(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|(_, s)| *s)
    }

    /// Every (name, value, secret).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.entries
            .iter()
            .map(|(n, (v, s))| (n.as_str(), v.as_str(), *s))
    }

    /// `text` with every secret value (and each of `extra`, the integration's own secret
    /// settings) replaced by `***`: for errors and response excerpts in the delivery log. Each
    /// secret is also looked for in the forms templates write it in (percent-encoded in a
    /// URL, JSON- and HTML-escaped in a body), so a receiver echoing the request back cannot
    /// carry it into the log.
    pub fn redact(&self, text: &str, extra: &[&str]) -> String {
        use crate::template::{Escape, escape};
        let mut out = text.to_string();
        let mut secrets: Vec<String> = self
            .entries
            .values()
            .filter(|(_, s)| *s)
            .map(|(v, _)| v.as_str())
            .chain(extra.iter().copied())
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .flat_map(|v| {
                [Escape::Raw, Escape::Url, Escape::Json, Escape::Html].map(|e| escape(v, e))
            })
            .collect();
        secrets.sort();
        secrets.dedup();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in secrets {
            out = out.replace(&s, "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_values_only() {
        let mut v = Variables::new();
        v.insert("JIRA_TOKEN", "tok-12345", true);
        v.insert("TEAM", "platform", false);
        assert_eq!(
            v.redact(
                "GET /x?token=tok-12345 for platform, key abcdef",
                &["abcdef"]
            ),
            "GET /x?token=*** for platform, key ***"
        );
        v.insert("PASSPHRASE", "two words&more", true);
        assert_eq!(
            v.redact(
                "echo: /hook?p=two%20words%26more, body \"two words&amp;more\"",
                &[]
            ),
            "echo: /hook?p=***, body \"***\""
        );
    }
}
