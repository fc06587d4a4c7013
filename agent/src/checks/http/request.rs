//! Request targets of the HTTP check: a URL parsed once into what a request needs (endpoint,
//! `host` header, path), and the basic-auth encoding.

use http::{HeaderValue, Uri};
use url::Url;

use crate::checks::net::Endpoint;

/// One request target: parsed once for the configured URL, again only per redirect.
pub(super) struct Hop {
    pub url: Url,
    pub ep: Endpoint,
    pub https: bool,
    pub authority: HeaderValue,
    pub path: Uri,
}

impl Hop {
    pub(super) fn new(url: Url) -> Result<Hop, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(format!("{url} uses {s}, not http or https")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{url} has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{url} has no port"))?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let authority =
            HeaderValue::from_str(&authority).map_err(|_| format!("{url} has an invalid host"))?;
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let path = path
            .parse::<Uri>()
            .map_err(|e| format!("{url} has an invalid path: {e}"))?;
        Ok(Hop {
            ep: Endpoint::new(host, port),
            https,
            authority,
            path,
            url,
        })
    }
}

/// Standard base64 (RFC 4648) for the basic-auth header.
pub(super) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }
}
