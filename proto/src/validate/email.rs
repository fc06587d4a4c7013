//! Validation of email integrations and of mail addresses: an address is a plain
//! `local@domain` (RFC 5322 dot-atom local part, a DNS domain of at least two labels), a sender
//! may carry a display name (`Ops <ops@example.com>`), and an integration's own SMTP server is
//! a host, a port and a TLS mode. Addresses are refused naming the field and why, quoting at
//! most an excerpt.

use super::text::{bounded, host_chars};
use super::{FieldError, MAX_HOST_BYTES, MAX_SECRET_BYTES, MAX_SHORT_TEXT_BYTES, err};
use crate::bounds::quote;
use crate::v1::{EmailIntegration, SmtpServer, SmtpTls};

/// Bytes of a mail address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Bytes of the local part of an address.
pub const MAX_LOCAL_PART_BYTES: usize = 64;
/// Bytes of a sender: a display name and its address.
pub const MAX_MAILBOX_BYTES: usize = 320;
/// Characters of a sender's display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Why `addr` is not a plain mail address, or `Ok` when it is.
fn address_problem(addr: &str) -> Result<(), String> {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("has no @".into());
    };
    if local.is_empty() {
        return Err("has nothing before the @".into());
    }
    if local.len() > MAX_LOCAL_PART_BYTES {
        return Err(format!(
            "has a part before the @ of {} bytes, at most {MAX_LOCAL_PART_BYTES}",
            local.len()
        ));
    }
    // dot-atom: atext runs separated by single dots (no quoted local parts: no mail system
    // Lookout sends to needs them, and they are where header injection hides).
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local
        .split('.')
        .any(|run| run.is_empty() || !run.chars().all(atext))
    {
        return Err(
            "has a part before the @ that is not letters, digits and !#$%&'*+-/=?^_`{|}~ \
             separated by single dots"
                .into(),
        );
    }
    domain_problem(domain)
}

/// Why `domain` is not the domain of a mail address: a DNS name of at least two labels of
/// letters, digits and `-` (not first or last), the last not all digits.
fn domain_problem(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("has nothing after the @".into());
    }
    if domain.len() > MAX_HOST_BYTES {
        return Err(format!(
            "has a domain of {} bytes, at most {MAX_HOST_BYTES}",
            domain.len()
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!(
            "has the domain {}, not a domain name such as example.com",
            quote(domain)
        ));
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "has the domain {}, an IP address rather than a domain name",
            quote(domain)
        ));
    }
    Ok(())
}

/// Checks a plain mail address (`alerts@example.com`), trimmed in place.
pub fn email_address(field: &str, raw: &mut String) -> Result<(), FieldError> {
    *raw = raw.trim().to_string();
    if raw.is_empty() {
        return Err(err(field, "is required"));
    }
    bounded(field, raw, MAX_EMAIL_BYTES)?;
    address_problem(raw).map_err(|r| err(field, format!("{} {r}", quote(raw))))
}

/// The address of a sender written `addr` or `Name <addr>`.
pub fn mailbox_address(mailbox: &str) -> &str {
    match (mailbox.rfind('<'), mailbox.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => mailbox,
    }
}

/// Checks a sender, `ops@example.com` or `Ops <ops@example.com>`, and writes it back in the
/// one form the notifier reads: trimmed, one space before `<`. The display name is at most
/// [`MAX_DISPLAY_NAME_CHARS`] printable characters without `<>"\` (it goes into a header).
pub fn mailbox(field: &str, raw: &mut String) -> Result<(), FieldError> {
    bounded(field, raw, MAX_MAILBOX_BYTES)?;
    let text = raw.trim();
    if text.is_empty() {
        return Err(err(field, "is required"));
    }
    let (name, mut addr) = match text.strip_suffix('>').and_then(|t| t.rsplit_once('<')) {
        Some((name, addr)) => (name.trim().to_string(), addr.to_string()),
        None => (String::new(), text.to_string()),
    };
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(err(
            field,
            format!("has a name longer than {MAX_DISPLAY_NAME_CHARS} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | '\\'))
    {
        return Err(err(
            field,
            "has a name with control characters or one of <>\"\\",
        ));
    }
    email_address(field, &mut addr)?;
    *raw = if name.is_empty() {
        addr
    } else {
        format!("{name} <{addr}>")
    };
    Ok(())
}

/// True for `localhost` and loopback IP literals: where a plain-text SMTP relay may listen.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| {
            crate::address::non_public(ip) == Some(crate::address::NonPublic::Loopback)
        })
}

/// Checks a host name or IP literal (`[v6]` or bare), trimmed in place.
pub(super) fn host(field: &str, raw: &mut String) -> Result<(), FieldError> {
    bounded(field, raw, MAX_HOST_BYTES + 2)?;
    *raw = raw.trim().to_string();
    if raw.is_empty() {
        return Err(err(field, "is required"));
    }
    let bare = raw.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        *raw = bare.to_string();
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !host_chars(raw) || !raw.trim_end_matches('.').split('.').all(label_ok) {
        return Err(err(
            field,
            format!("{} is not a host name or IP address", quote(raw)),
        ));
    }
    Ok(())
}

/// The port an SMTP server is reached on with `tls` when none is given.
pub fn default_smtp_port(tls: SmtpTls) -> u16 {
    match tls {
        SmtpTls::Unspecified | SmtpTls::Starttls => 587,
        SmtpTls::Implicit => 465,
        SmtpTls::None => 25,
    }
}

/// Checks an SMTP server under `field` and fills its defaults (STARTTLS, the port of the TLS
/// mode).
pub fn smtp_server(field: &str, s: &mut SmtpServer) -> Result<(), FieldError> {
    host(&format!("{field}.host"), &mut s.host)?;
    let tls = SmtpTls::try_from(s.tls).map_err(|_| {
        err(
            format!("{field}.tls"),
            format!("{} is not a known TLS mode (0..=3)", s.tls),
        )
    })?;
    let tls = if tls == SmtpTls::Unspecified {
        SmtpTls::Starttls
    } else {
        tls
    };
    s.tls = tls as i32;
    if s.port == 0 {
        s.port = u32::from(default_smtp_port(tls));
    }
    if s.port > u32::from(u16::MAX) {
        return Err(err(
            format!("{field}.port"),
            format!("{} is invalid, must be 1..=65535", s.port),
        ));
    }
    bounded(
        format!("{field}.username"),
        &s.username,
        MAX_SHORT_TEXT_BYTES,
    )?;
    bounded(format!("{field}.password"), &s.password, MAX_SECRET_BYTES)?;
    if s.username.chars().any(char::is_control) {
        return Err(err(
            format!("{field}.username"),
            "must not hold control characters",
        ));
    }
    if s.username.is_empty() != s.password.is_empty() {
        return Err(err(
            format!("{field}.password"),
            "username and password go together: give both or neither",
        ));
    }
    if tls == SmtpTls::None {
        if !is_loopback_host(&s.host) {
            return Err(err(
                format!("{field}.tls"),
                "SMTP_TLS_NONE sends in plain text: only to a loopback host (a local relay)",
            ));
        }
        if !s.username.is_empty() {
            return Err(err(
                format!("{field}.username"),
                "AUTH needs TLS: a password is never sent in plain text",
            ));
        }
    }
    Ok(())
}

/// Checks an email integration and fills its defaults.
pub fn email_integration(e: &mut EmailIntegration) -> Result<(), FieldError> {
    email_address("email.email", &mut e.email)?;
    if !e.from.trim().is_empty() {
        mailbox("email.from", &mut e.from)?;
    } else {
        e.from.clear();
    }
    if let Some(s) = e.smtp.as_mut() {
        smtp_server("email.smtp", s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in [
            "alerts@example.com",
            "first.last+tag@mail.example.co.uk",
            "o'brien@example.org",
            "x@a-b.io",
        ] {
            let mut s = format!("  {ok} ");
            assert!(email_address("email.email", &mut s).is_ok(), "{ok}");
            assert_eq!(s, ok);
        }
        for (bad, why) in [
            ("", "is required"),
            ("alerts", "has no @"),
            ("@example.com", "nothing before"),
            ("a..b@example.com", "single dots"),
            (".a@example.com", "single dots"),
            ("a b@example.com", "single dots"),
            ("\"q\"@example.com", "single dots"),
            ("a@localhost", "not a domain name"),
            ("a@example..com", "not a domain name"),
            ("a@-x.com", "not a domain name"),
            ("a@10.0.0.1", "IP address"),
            ("a@[10.0.0.1]", "not a domain name"),
            ("a@example.com\r\nBcc: x@evil.com", "single dots"),
            ("a@exam\r\nple.com", "not a domain name"),
            ("a@", "nothing after"),
        ] {
            let mut s = bad.to_string();
            let e = email_address("email.email", &mut s).expect_err(bad);
            assert_eq!(e.field, "email.email");
            assert!(e.reason.contains(why), "{bad}: {}", e.reason);
        }
        let mut long = format!("{}@example.com", "a".repeat(65));
        assert!(
            email_address("f", &mut long)
                .expect_err("long local part")
                .reason
                .contains("at most 64")
        );
        let mut huge = "a".repeat(100_000);
        let e = email_address("f", &mut huge).expect_err("huge");
        assert!(e.reason.contains("at most 254"), "{}", e.reason);
    }

    #[test]
    fn senders() {
        for (raw, want, address) in [
            ("ops@example.com", "ops@example.com", "ops@example.com"),
            (
                "Ops <ops@example.com>",
                "Ops <ops@example.com>",
                "ops@example.com",
            ),
            (
                "  Lookout   <lookout@example.com> ",
                "Lookout <lookout@example.com>",
                "lookout@example.com",
            ),
            ("<ops@example.com>", "ops@example.com", "ops@example.com"),
        ] {
            let mut s = raw.to_string();
            mailbox("email.from", &mut s).expect(raw);
            assert_eq!(s, want);
            assert_eq!(mailbox_address(&s), address);
        }
        for bad in [
            "Ops <ops>",
            "O\"ps <ops@example.com>",
            "O\r\nps <ops@example.com>",
            "Ops <ops@example.com",
        ] {
            let mut s = bad.to_string();
            let e = mailbox("email.from", &mut s).expect_err(bad);
            assert_eq!(e.field, "email.from");
        }
    }

    #[test]
    fn smtp_servers() {
        let mut s = SmtpServer {
            host: " smtp.example.com ".into(),
            ..Default::default()
        };
        smtp_server("email.smtp", &mut s).expect("defaults");
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("smtp.example.com", 587, SmtpTls::Starttls as i32)
        );
        let mut s = SmtpServer {
            host: "smtp.example.com".into(),
            tls: SmtpTls::Implicit as i32,
            ..Default::default()
        };
        smtp_server("email.smtp", &mut s).expect("implicit");
        assert_eq!(s.port, 465);
        let cases: [(SmtpServer, &str); 6] = [
            (SmtpServer::default(), "email.smtp.host"),
            (
                SmtpServer {
                    host: "smtp.example.com".into(),
                    tls: SmtpTls::None as i32,
                    ..Default::default()
                },
                "email.smtp.tls",
            ),
            (
                SmtpServer {
                    host: "127.0.0.1".into(),
                    tls: SmtpTls::None as i32,
                    username: "u".into(),
                    password: "p".into(),
                    ..Default::default()
                },
                "email.smtp.username",
            ),
            (
                SmtpServer {
                    host: "smtp.example.com".into(),
                    username: "u".into(),
                    ..Default::default()
                },
                "email.smtp.password",
            ),
            (
                SmtpServer {
                    host: "smtp.example.com".into(),
                    port: 70_000,
                    ..Default::default()
                },
                "email.smtp.port",
            ),
            (
                SmtpServer {
                    host: "smtp example.com".into(),
                    ..Default::default()
                },
                "email.smtp.host",
            ),
        ];
        for (mut s, field) in cases {
            let e = smtp_server("email.smtp", &mut s).expect_err(field);
            assert_eq!(e.field, field, "{}", e.reason);
        }
        let mut plain = SmtpServer {
            host: "localhost".into(),
            tls: SmtpTls::None as i32,
            ..Default::default()
        };
        smtp_server("email.smtp", &mut plain).expect("plain to loopback");
        assert_eq!(plain.port, 25);
    }
}
