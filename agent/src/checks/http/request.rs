//! Request targets of the HTTP check: a URL parsed once into what a request needs (endpoint,
//! `host` header, path), and the basic-auth encoding.

use http::{HeaderValue, Uri};
use lookout_proto::bounds::excerpt;
use url::Url;

use crate::checks::net::Endpoint;

/// The longest DNS name (RFC 1035); IP literals are shorter.
const MAX_HOST_BYTES: usize = 253;

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
            s => {
                return Err(format!(
                    "{} uses {}, not http or https",
                    excerpt(url.as_str()),
                    excerpt(s)
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{} has no host", excerpt(url.as_str())))?;
        // No DNS name is longer; a redirect cannot put a huge host into every later message.
        if host.len() > MAX_HOST_BYTES {
            return Err(format!(
                "{} has a host longer than {MAX_HOST_BYTES} characters",
                excerpt(url.as_str())
            ));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{} has no port", excerpt(url.as_str())))?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let authority = HeaderValue::from_str(&authority)
            .map_err(|_| format!("{} has an invalid host", excerpt(url.as_str())))?;
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let path = path
            .parse::<Uri>()
            .map_err(|e| format!("{} has an invalid path: {e}", excerpt(url.as_str())))?;
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

    #[test]
    fn huge_hosts_are_refused_and_quoted_briefly() {
        let url = Url::parse(&format!("http://{}.example/", "a".repeat(5000))).expect("parses");
        let e = Hop::new(url).err().expect("refused");
        assert!(e.ends_with("has a host longer than 253 characters"), "{e}");
        assert!(e.chars().count() < 300, "{e}");
        assert!(Hop::new(Url::parse("http://example.org:8080/a").expect("url")).is_ok());
    }
}
