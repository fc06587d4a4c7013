//! Loopback servers and certificates shared by the check tests: a scripted HTTP/1.1 server,
//! a TLS wrapper with rcgen certificates (valid, expired, wrong host, expiring soon).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// A deadline a few seconds out, for checks that should finish quickly.
pub fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// A request as the scripted server saw it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the scripted server answers: status, extra headers, body, and a delay before the
/// first byte.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Script = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Starts an HTTP/1.1 server on 127.0.0.1:0 answering each request with `script`; with
/// `tls`, it speaks HTTPS. Requests seen are sent on the returned channel.
pub async fn http_server(
    tls: Option<TlsAcceptor>,
    script: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let script: Script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (script, tx, tls) = (script.clone(), tx.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve_one(stream, &script, &tx).await,
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            serve_one(s, &script, &tx).await;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    script: &Script,
    tx: &tokio::sync::mpsc::UnboundedSender<Seen>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let mut seen = Seen {
        method: first.next().unwrap_or_default().into(),
        path: first.next().unwrap_or_default().into(),
        ..Default::default()
    };
    for l in lines.filter(|l| !l.is_empty()) {
        if let Some((n, v)) = l.split_once(':') {
            seen.headers
                .push((n.trim().to_ascii_lowercase(), v.trim().into()));
        }
    }
    let len: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    seen.body = body;
    let reply = script(&seen);
    let _ = tx.send(seen);
    tokio::time::sleep(reply.delay).await;
    let mut out = format!(
        "HTTP/1.1 {} Scripted\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
}

/// A private CA and leaf certificates it signs, as the tests need them.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// Validity of a leaf certificate relative to now.
pub enum Validity {
    /// Valid for a year.
    Fine,
    /// Expired yesterday.
    Expired,
    /// Expires in this many days (and a few hours, so whole days count exactly).
    ExpiresInDays(i64),
    /// Valid from the first day to the second (UTC midnights, `(year, month, day)`).
    Between((i32, u8, u8), (i32, u8, u8)),
}

/// Midnight UTC of a calendar day.
pub fn utc_day((year, month, day): (i32, u8, u8)) -> time::OffsetDateTime {
    let month = time::Month::try_from(month).expect("test month");
    time::Date::from_calendar_date(year, month, day)
        .expect("test date")
        .midnight()
        .assume_utc()
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Lookout Test CA");
        let key = KeyPair::generate().expect("ca key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("ca cert"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A TLS acceptor presenting a leaf for `names` with `validity`, signed by this CA.
    pub fn acceptor(&self, names: &[&str], validity: Validity, alpn: &[&[u8]]) -> TlsAcceptor {
        let now = time::OffsetDateTime::now_utc();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("none"),
        );
        let (from, until) = match validity {
            Validity::Fine => (
                now - time::Duration::days(1),
                now + time::Duration::days(365),
            ),
            Validity::Expired => (
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            ),
            Validity::ExpiresInDays(d) => (
                now - time::Duration::days(1),
                now + time::Duration::days(d) + time::Duration::hours(6),
            ),
            Validity::Between(from, until) => (utc_day(from), utc_day(until)),
        };
        params.not_before = from;
        params.not_after = until;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let chain = vec![
            cert.der().clone(),
            CertificateDer::from(self.issuer.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A plain-text server that answers every connection with an HTTP error and closes it, as
/// a web server does when a TLS client connects to its plain port.
pub async fn plain_text_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// A TCP address nothing listens on (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

/// Accepts one connection, answers one HTTP request on it when `answer`, and reports how the
/// client then ended the connection: a FIN (`Ok(0)`) or a reset.
pub async fn close_watcher(
    answer: bool,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Receiver<std::io::Result<usize>>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            if answer {
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
            let _ = tx.send(s.read(&mut buf).await);
        }
    });
    (addr, rx)
}

/// Asserts that the connection `close_watcher` saw ended with a reset iff `reset`.
pub async fn assert_ended(
    ended: tokio::sync::oneshot::Receiver<std::io::Result<usize>>,
    reset: bool,
) {
    let ended = tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("the server sees the close")
        .expect("one connection");
    match ended {
        Ok(0) => assert!(!reset, "an orderly close, expected a reset"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            assert!(reset, "a reset, expected an orderly close")
        }
        other => panic!("unexpected end of the connection: {other:?}"),
    }
}
