//! Shared rules for text fields: length bounds checked before anything parses the value (so a
//! refusal never echoes a huge one), host characters and header values as HTTP allows them,
//! and the extra CA certificates of a TLS check.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{FieldError, err};

/// Refuses `s` longer than `max` bytes, saying how long it is rather than quoting it.
pub(super) fn bounded(field: impl Into<String>, s: &str, max: usize) -> Result<(), FieldError> {
    if s.len() > max {
        return Err(err(field, format!("is {} bytes, at most {max}", s.len())));
    }
    Ok(())
}

/// Refuses a list longer than `max` entries.
pub(super) fn bounded_list(field: &str, len: usize, max: usize) -> Result<(), FieldError> {
    if len > max {
        return Err(err(field, format!("has {len} entries, at most {max}")));
    }
    Ok(())
}

/// Characters a host (name or IP literal) can hold: no whitespace, controls or URL syntax.
pub(super) fn host_chars(host: &str) -> bool {
    !host.contains(|c: char| {
        c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@' | '\\' | '%')
    })
}

/// A header value as the agent sends it: visible ASCII and tabs, no control characters.
pub(super) fn header_value(s: &str) -> Result<http::HeaderValue, String> {
    http::HeaderValue::from_str(s)
        .map_err(|_| "must not contain control characters or line breaks".into())
}

/// Parses the PEM certificates of `ca_pem`; each must be usable as a trust anchor.
pub(super) fn ca_certs(ca_pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    for (i, c) in certs.iter().enumerate() {
        webpki::anchor_from_trusted_cert(c)
            .map_err(|e| format!("certificate {} is not usable: {e}", i + 1))?;
    }
    Ok(certs)
}
