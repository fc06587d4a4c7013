//! Email bodies: the subject, a plain-text part and an HTML part about an event, in the same
//! words as the chat presets (`presets::summary`), and the verification mail of a project
//! member. Every value is escaped for HTML here; the subject is one line without control
//! characters, so nothing an event carries can add a header.

use lookout_proto::v1::NotificationEvent;

use crate::presets::summary::{Summary, Tone, clip};

/// Characters of a subject at most.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// One mail's content, ready for a mail builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    /// One line, no control characters.
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl EmailContent {
    /// Bytes of both parts (the payload cap applies to them).
    pub fn len(&self) -> usize {
        self.subject.len() + self.text.len() + self.html.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `s` with every character that means something in HTML escaped.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One header line: control characters (line breaks above all) become spaces, runs of
/// spaces one, at most [`MAX_SUBJECT_CHARS`].
fn header_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clip(
        &flat.split_whitespace().collect::<Vec<_>>().join(" "),
        MAX_SUBJECT_CHARS,
    )
}

fn label(tone: Tone) -> &'static str {
    match tone {
        Tone::Critical => "DOWN",
        Tone::Warning => "WARNING",
        Tone::Resolved => "RESOLVED",
        Tone::Info => "TEST",
    }
}

/// The mail about `ev`: `[Lookout] DOWN: Sample API is down`, the facts as `Label: value`
/// lines, and the same as an HTML table.
pub fn render(ev: &NotificationEvent) -> EmailContent {
    let s = Summary::of(ev);
    let subject = header_line(&format!("[Lookout] {}: {}", label(s.tone), s.title));
    let mut text = format!("{}\n\n", s.title);
    for line in s.plain_lines() {
        text.push_str(&line);
        text.push('\n');
    }
    if let Some(link) = &s.link {
        text.push_str(&format!("\n{link}\n"));
    }
    text.push_str(&format!("\nSent by Lookout at {}.\n", s.timestamp));

    let mut rows = String::new();
    for (l, v) in &s.facts {
        rows.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding:2px 12px 2px 0\">{}</th><td>{}</td></tr>\n",
            escape_html(l),
            escape_html(v)
        ));
    }
    let error = s.error.as_deref().map_or(String::new(), |e| {
        format!(
            "<p><strong>Error:</strong> <code>{}</code></p>\n",
            escape_html(e)
        )
    });
    let link = s.link.as_deref().map_or(String::new(), |l| {
        let l = escape_html(l);
        format!("<p><a href=\"{l}\">{l}</a></p>\n")
    });
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family:sans-serif\">\n\
         <h2 style=\"color:{color}\">{title}</h2>\n\
         <table>\n{rows}</table>\n{error}{link}\
         <p style=\"color:#888\">Sent by Lookout at {at}.</p>\n</body></html>\n",
        title = escape_html(&s.title),
        color = s.tone.hex(),
        at = escape_html(&s.timestamp),
    );
    EmailContent {
        subject,
        text,
        html,
    }
}

/// The mail that asks a new project member to verify `address` with `code`, valid for
/// `valid_hours`.
pub fn verification(address: &str, code: &str, valid_hours: u32) -> EmailContent {
    let subject = header_line(&format!("[Lookout] Your verification code: {code}"));
    let text = format!(
        "Your address {address} was added to a Lookout project, to receive its notifications.\n\n\
         Verification code: {code}\n\n\
         Enter it with `lookout users verify {address} {code}` within {valid_hours} hours.\n\
         Until then no notification is mailed to this address. If you did not expect this \
         mail, ignore it.\n"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Verification code</title></head>\n\
         <body style=\"font-family:sans-serif\">\n\
         <p>Your address {address} was added to a Lookout project, to receive its notifications.</p>\n\
         <p>Verification code: <strong style=\"font-size:1.4em\">{code}</strong></p>\n\
         <p>Enter it with <code>lookout users verify {address} {code}</code> within {valid_hours} hours. \
         Until then no notification is mailed to this address. If you did not expect this mail, ignore it.</p>\n\
         </body></html>\n",
        address = escape_html(address),
        code = escape_html(code),
    );
    EmailContent {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::EventKind;

    #[test]
    fn incident_mail_has_the_facts_in_both_parts() {
        let ev = crate::sample_event();
        let m = render(&ev);
        assert_eq!(m.subject, "[Lookout] DOWN: Sample API is down");
        for part in [&m.text, &m.html] {
            assert!(part.contains("Sample API is down"), "{part}");
            assert!(part.contains("https://api.example.com/health"), "{part}");
            assert!(
                part.contains("connection timed out after 10000 ms"),
                "{part}"
            );
            assert!(part.contains("eu-west"), "{part}");
        }
        assert!(m.text.contains("Target: https://api.example.com/health"));
        assert!(
            m.html
                .contains("<a href=\"https://api.example.com/health\">")
        );
    }

    #[test]
    fn kinds_have_their_label() {
        let mut ev = crate::sample_event();
        for (kind, label) in [
            (EventKind::Recovery, "RESOLVED"),
            (EventKind::Degraded, "WARNING"),
            (EventKind::Test, "TEST"),
        ] {
            ev.kind = kind as i32;
            let m = render(&ev);
            assert!(
                m.subject.starts_with(&format!("[Lookout] {label}: ")),
                "{}",
                m.subject
            );
        }
    }

    #[test]
    fn html_is_escaped_and_the_subject_is_one_line() {
        let mut ev = crate::sample_event();
        if let Some(m) = &mut ev.monitor {
            m.name = "<script>alert('x')</script>\r\nBcc: victim@example.com".into();
        }
        if let Some(r) = &mut ev.result {
            r.error_message = "a & b <b>bold</b> \"quoted\"".into();
        }
        let m = render(&ev);
        assert!(!m.html.contains("<script>"), "{}", m.html);
        assert!(
            m.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
        );
        assert!(
            m.html
                .contains("a &amp; b &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;")
        );
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        assert!(m.subject.contains("Bcc: victim@example.com is down"));
        assert!(m.subject.chars().count() <= MAX_SUBJECT_CHARS);
    }

    #[test]
    fn verification_mail_carries_the_code() {
        let m = verification("alice@example.com", "123456", 24);
        assert!(m.subject.ends_with("123456"));
        assert!(
            m.text
                .contains("lookout users verify alice@example.com 123456")
        );
        assert!(
            m.html
                .contains("<strong style=\"font-size:1.4em\">123456</strong>")
        );
    }
}
