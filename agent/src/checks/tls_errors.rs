//! TLS failures in words: rustls errors (certificate problems, alerts, protocol mismatches)
//! turned into sentences a person can act on, never Rust debug structs.

use std::io;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{CertificateError, Error};

/// What went wrong in a handshake, from the error tokio-rustls returns.
pub(crate) fn describe_io(e: &io::Error) -> String {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        return describe(tls);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake".into()
        }
        io::ErrorKind::ConnectionReset => {
            "the server reset the connection during the handshake".into()
        }
        _ => e.to_string(),
    }
}

/// One rustls error as a sentence.
pub(crate) fn describe(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(c) => certificate(c),
        Error::NoCertificatesPresented => "the server sent no certificate".into(),
        Error::AlertReceived(alert) => match words(&format!("{alert:?}")).as_str() {
            "protocol version" => {
                "the server supports none of the TLS versions this agent offers (1.2, 1.3)".into()
            }
            "certificate required" => "the server requires a client certificate".into(),
            name => format!("the server ended the handshake with the alert \"{name}\""),
        },
        Error::PeerIncompatible(p) => format!(
            "the server cannot talk TLS with this agent: {}",
            words(&format!("{p:?}"))
        ),
        Error::PeerMisbehaved(p) => format!(
            "the server broke the TLS protocol: {}",
            words(&format!("{p:?}"))
        ),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            "the server did not answer with TLS (is the port plain text?)".into()
        }
        Error::InappropriateHandshakeMessage { .. } => {
            "the server sent an unexpected handshake message".into()
        }
        Error::NoApplicationProtocol => {
            "the server supports none of the offered application protocols (ALPN)".into()
        }
        Error::DecryptError => "a TLS record could not be decrypted".into(),
        Error::General(m) => m.clone(),
        other => other.to_string(),
    }
}

fn certificate(c: &CertificateError) -> String {
    match c {
        CertificateError::UnknownIssuer => "certificate signed by an unknown authority".into(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("certificate expired on {}", date(*not_after))
        }
        CertificateError::Expired => "certificate has expired".into(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("certificate is not valid before {}", date(*not_before))
        }
        CertificateError::NotValidYet => "certificate is not valid yet".into(),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = shown_name(expected);
            if presented.is_empty() {
                format!("certificate names no host, so it does not cover {expected}")
            } else {
                let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
                format!(
                    "certificate for {} does not cover {expected}",
                    lookout_proto::bounds::excerpt(&names.join(", "))
                )
            }
        }
        CertificateError::NotValidForName => "certificate does not cover the server's name".into(),
        CertificateError::Revoked => "certificate has been revoked".into(),
        CertificateError::BadSignature => "certificate signature is invalid".into(),
        CertificateError::BadEncoding => "certificate is malformed".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not meant for TLS servers (extended key usage)".into()
        }
        CertificateError::UnhandledCriticalExtension => {
            "certificate has a critical extension this agent does not understand".into()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "certificate is signed with an algorithm this agent does not support".into()
        }
        other => Error::InvalidCertificate(other.clone()).to_string(),
    }
}

/// `2020-02-01`, the UTC day of `t`.
fn date(t: UnixTime) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || format!("{} (Unix time)", t.as_secs()),
            |d| d.format("%Y-%m-%d").to_string(),
        )
}

fn shown_name(n: &ServerName<'_>) -> String {
    n.to_str().into_owned()
}

/// webpki reports presented names as `DnsName("example.org")` or `IpAddress(127.0.0.1)`.
fn presented_name(n: &str) -> &str {
    n.strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            n.strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })
        .unwrap_or(n)
}

/// `UnknownCA` as "unknown CA", `HandshakeFailure` as "handshake failure".
fn words(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut parts: Vec<String> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1);
        let starts = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        match parts.last_mut() {
            Some(word) if !starts => word.push(c),
            _ => parts.push(c.to_string()),
        }
    }
    parts
        .iter()
        .map(|w| {
            if w.len() > 1 && w.chars().all(|c| !c.is_lowercase()) {
                w.clone()
            } else {
                w.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use rustls::AlertDescription;

    use super::*;

    #[test]
    fn certificate_errors_read_as_sentences() {
        let feb_2020 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_580_515_200));
        let cases = [
            (
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "certificate signed by an unknown authority",
            ),
            (
                Error::InvalidCertificate(CertificateError::ExpiredContext {
                    time: UnixTime::now(),
                    not_after: feb_2020,
                }),
                "certificate expired on 2020-02-01",
            ),
            (
                Error::InvalidCertificate(CertificateError::NotValidYetContext {
                    time: UnixTime::now(),
                    not_before: feb_2020,
                }),
                "certificate is not valid before 2020-02-01",
            ),
            (
                Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("127.0.0.1").expect("name"),
                    presented: vec![
                        "DnsName(\"wrong.example.org\")".into(),
                        "IpAddress(10.0.0.1)".into(),
                    ],
                }),
                "certificate for wrong.example.org, 10.0.0.1 does not cover 127.0.0.1",
            ),
            (
                Error::AlertReceived(AlertDescription::HandshakeFailure),
                "the server ended the handshake with the alert \"handshake failure\"",
            ),
            (
                Error::AlertReceived(AlertDescription::UnknownCA),
                "the server ended the handshake with the alert \"unknown CA\"",
            ),
            (
                Error::AlertReceived(AlertDescription::ProtocolVersion),
                "the server supports none of the TLS versions this agent offers (1.2, 1.3)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(describe(&e), want, "{e:?}");
        }
    }

    #[test]
    fn camel_case_becomes_words() {
        assert_eq!(
            words("NoCipherSuitesInCommon"),
            "no cipher suites in common"
        );
        assert_eq!(words("UnknownCA"), "unknown CA");
        assert_eq!(words("BadCertificate"), "bad certificate");
    }

    #[test]
    fn io_errors_without_tls_inside() {
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            describe_io(&eof),
            "the server closed the connection during the handshake"
        );
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert_eq!(
            describe_io(&wrapped),
            "certificate signed by an unknown authority"
        );
    }
}
