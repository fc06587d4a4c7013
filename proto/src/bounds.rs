//! Bounds on text that crosses a process: a result's messages, quoted values and excerpts each
//! have a documented maximum, and a cut is always marked with `…` so nobody mistakes a
//! truncated value for the whole one.

use std::borrow::Cow;

use crate::v1::CheckResult;

/// Bytes of `CheckResult.error_message`, the ellipsis included.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;
/// Bytes of `CheckResult.certificate.subject`, the ellipsis included.
pub const MAX_CERT_SUBJECT_BYTES: usize = 1024;
/// Characters of a value quoted in a message (a JSON value, a header, a URL, a body excerpt).
pub const MAX_EXCERPT_CHARS: usize = 200;
/// Marks a cut.
pub const ELLIPSIS: char = '…';

/// `s` cut to at most `max_bytes` bytes, the ellipsis included, at a character boundary.
pub fn truncate_bytes(s: &str, max_bytes: usize) -> Cow<'_, str> {
    if s.len() <= max_bytes {
        return Cow::Borrowed(s);
    }
    let room = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    let mut end = room.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
    out.push_str(&s[..end]);
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

/// `s` cut to at most `max_chars` characters, the ellipsis included.
pub fn truncate_chars(s: &str, max_chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
            out.push_str(&s[..end]);
            out.push(ELLIPSIS);
            Cow::Owned(out)
        }
    }
}

/// A value shown inside a message: at most [`MAX_EXCERPT_CHARS`] characters.
pub fn excerpt(s: &str) -> Cow<'_, str> {
    truncate_chars(s, MAX_EXCERPT_CHARS)
}

/// A value quoted inside a message, as `{:?}` would, from its excerpt: `"abc…"`.
pub fn quote(s: &str) -> String {
    format!("{:?}", excerpt(s))
}

impl CheckResult {
    /// Cuts the free-text fields to their bounds; every producer of a result calls it last.
    pub fn bound_text(&mut self) {
        if let Cow::Owned(cut) = truncate_bytes(&self.error_message, MAX_ERROR_MESSAGE_BYTES) {
            self.error_message = cut;
        }
        if let Some(c) = self.certificate.as_mut() {
            if let Cow::Owned(cut) = truncate_bytes(&c.subject, MAX_CERT_SUBJECT_BYTES) {
                c.subject = cut;
            }
            // A digest is 64 hex digits or nothing: a cut one would name no certificate.
            if c.sha256.len() != 64 || !c.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                c.sha256.clear();
            }
        }
    }
}

/// Encoded bytes of one message on the agent gateway, in either direction. The coordinator's
/// server and the agent's client both refuse a larger message (`OUT_OF_RANGE`), so a batch or
/// an assignment part must stay below it.
pub const MAX_GATEWAY_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Results in one `ResultBatch`; the gateway refuses a larger batch with `INVALID_ARGUMENT`.
pub const MAX_BATCH_RESULTS: usize = 10_000;

/// Entries of `Hello.running` at most: an agent running more asks for a snapshot.
pub const MAX_RECONCILE_MONITORS: usize = 50_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_facts_are_bounded() {
        let mut r = CheckResult {
            certificate: Some(crate::v1::CertificateFacts {
                subject: "CN=".to_string() + &"a".repeat(5000),
                sha256: "f".repeat(10_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        r.bound_text();
        let c = r.certificate.expect("kept");
        assert_eq!(c.subject.len(), MAX_CERT_SUBJECT_BYTES);
        assert!(c.subject.ends_with(ELLIPSIS));
        assert_eq!(c.sha256, "");
        let mut r = CheckResult {
            certificate: Some(crate::v1::CertificateFacts {
                sha256: "0a".repeat(32),
                ..Default::default()
            }),
            ..Default::default()
        };
        r.bound_text();
        assert_eq!(r.certificate.expect("kept").sha256.len(), 64);
    }

    #[test]
    fn truncation_keeps_short_text_and_marks_cuts() {
        assert_eq!(truncate_bytes("abc", 3), "abc");
        assert_eq!(truncate_bytes("abcdef", 5), "ab…");
        // Never splits a character: "é" is two bytes.
        assert_eq!(truncate_bytes("éééé", 6), "é…");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("éééé", 2), "é…");
        assert_eq!(
            quote(&"x".repeat(1000)).chars().count(),
            MAX_EXCERPT_CHARS + 2
        );
    }

    #[test]
    fn a_result_message_is_bounded() {
        let mut r = CheckResult {
            error_message: "é".repeat(10_000),
            ..Default::default()
        };
        r.bound_text();
        assert!(r.error_message.len() <= MAX_ERROR_MESSAGE_BYTES);
        assert!(r.error_message.ends_with(ELLIPSIS));
    }
}
