//! Local stand-ins for Twilio's Messages API and Slack's Web API on 127.0.0.1:0, speaking
//! the documented requests and answers and checking what their services check (auth,
//! forms, Block Kit bounds), so a test fails saying what Lookout sent wrong. Shared by the
//! coordinator's and the notifier's tests.
#![allow(dead_code)] // each test file uses a different part

pub mod slack;
pub mod twilio;

use std::future::Future;
use std::time::Duration;

/// Serves `app` on a fresh loopback port; returns `http://127.0.0.1:<port>`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("stand-in serves");
    });
    format!("http://{addr}")
}

/// Polls `check` until it holds, failing after 15 s.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The decoded `user:password` of an `Authorization: Basic` header.
pub fn basic_auth(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let v = headers.get("authorization")?.to_str().ok()?;
    let encoded = v.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The fields of a form body.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
