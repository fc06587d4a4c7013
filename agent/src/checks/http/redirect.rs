//! What a followed redirect may carry: the fetch standard's method rewrite, and the rule that
//! credentials and request bodies go only to the configured origin.

use http::{Method, StatusCode};
use lookout_proto::FailureClass;
use lookout_proto::bounds::excerpt;
use url::Url;

use crate::checks::Failure;

/// What the next request of a run may carry, narrowed as redirects leave the configured
/// origin. Credentials are the auth field and every secret header (`is_secret_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Carry {
    pub body: bool,
    pub credentials: bool,
}

impl Carry {
    /// The first request carries everything configured.
    pub(super) const ALL: Carry = Carry {
        body: true,
        credentials: true,
    };
}

/// The method and cargo of the request that follows `status` from `from` to `to`.
///
/// 303, and 301/302 of a POST, become a GET without body (HEAD stays HEAD), as in fetch and
/// curl. Leaving `origin` (scheme, host, port; so https to http too) drops the credentials
/// for the rest of the run, even if a later hop comes back, because the other origin chose
/// where to send it. A body is never sent to another origin: a redirect that would resend
/// one there (307, 308, or 301/302 of a PUT) stops the check with a message saying so, since
/// a request without its body would only fail in a more confusing way.
pub(super) fn follow(
    status: StatusCode,
    method: &Method,
    carry: Carry,
    has_body: bool,
    origin: &Url,
    from: &Url,
    to: &Url,
) -> Result<(Method, Carry), Failure> {
    let mut method = method.clone();
    let mut carry = carry;
    let rewrites = status == StatusCode::SEE_OTHER
        || (method == Method::POST
            && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND));
    if rewrites {
        if method != Method::HEAD {
            method = Method::GET;
        }
        carry.body = false;
    }
    if to.origin() != origin.origin() {
        if carry.body && has_body {
            return Err(Failure::new(
                FailureClass::Protocol,
                format!(
                    "{} answered {} with a redirect to {}, another origin; the request body is \
                     not sent to another origin, so the check stops here (point it at the final \
                     URL)",
                    excerpt(from.as_str()),
                    status.as_u16(),
                    excerpt(to.as_str())
                ),
            ));
        }
        carry.credentials = false;
    }
    Ok((method, carry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    #[test]
    fn redirects_narrow_what_is_carried() {
        let origin = url("https://a.test/");
        let same = url("https://a.test/next");
        let cases = [
            // (status, method, to, has body) -> (method, body, credentials) or an error
            (
                302,
                Method::GET,
                "https://a.test/x",
                false,
                Some((Method::GET, true, true)),
            ),
            (
                302,
                Method::POST,
                "https://a.test/x",
                true,
                Some((Method::GET, false, true)),
            ),
            (
                301,
                Method::POST,
                "https://b.test/x",
                true,
                Some((Method::GET, false, false)),
            ),
            (
                303,
                Method::PUT,
                "https://b.test/x",
                true,
                Some((Method::GET, false, false)),
            ),
            (
                303,
                Method::HEAD,
                "https://a.test/x",
                false,
                Some((Method::HEAD, false, true)),
            ),
            (
                307,
                Method::POST,
                "https://a.test/x",
                true,
                Some((Method::POST, true, true)),
            ),
            (
                307,
                Method::POST,
                "https://b.test/x",
                false,
                Some((Method::POST, true, false)),
            ),
            (307, Method::POST, "https://b.test/x", true, None),
            (308, Method::PUT, "https://a.test:8443/x", true, None),
            (301, Method::PUT, "https://b.test/x", true, None),
            // https to http on the same host is another origin.
            (
                302,
                Method::GET,
                "http://a.test/x",
                false,
                Some((Method::GET, true, false)),
            ),
        ];
        for (status, method, to, has_body, want) in cases {
            let status = StatusCode::from_u16(status).expect("status");
            let got = follow(
                status,
                &method,
                Carry::ALL,
                has_body,
                &origin,
                &same,
                &url(to),
            );
            let got = got.ok().map(|(m, c)| (m, c.body, c.credentials));
            assert_eq!(got, want, "{status} {method} to {to}");
        }
        let dropped = Carry {
            body: false,
            credentials: false,
        };
        let (_, back) = follow(
            StatusCode::FOUND,
            &Method::GET,
            dropped,
            false,
            &origin,
            &url("https://b.test/"),
            &same,
        )
        .expect("follows");
        assert!(
            !back.credentials,
            "coming back does not restore credentials"
        );
    }
}
