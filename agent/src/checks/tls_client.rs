//! TLS for the probers: client configs built once per process (verifying with the system roots,
//! or accepting any certificate) or once per monitor (extra CA), timed handshakes, and the
//! certificate facts that assertions read (expiry, subject, SANs).

use std::sync::{Arc, OnceLock};

use lookout_proto::FailureClass;
use lookout_proto::v1::TlsOptions;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::tls_errors::describe_io;
use super::{Failure, micros_since};

/// Application protocol to offer in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alpn {
    None,
    Http1,
    H2,
}

impl Alpn {
    fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::None => Vec::new(),
            Alpn::Http1 => vec![b"http/1.1".to_vec()],
            Alpn::H2 => vec![b"h2".to_vec()],
        }
    }
}

/// A TLS client for one monitor: the (usually shared) config and the name to verify.
#[derive(Clone)]
pub(crate) struct TlsClient {
    connector: TlsConnector,
    /// Overrides the target host as SNI and verified name.
    server_name: Option<ServerName<'static>>,
}

impl TlsClient {
    /// Builds the client for `opts`; shares the process-wide config unless a CA is given.
    pub(crate) fn new(opts: Option<&TlsOptions>, alpn: Alpn) -> Result<TlsClient, String> {
        let default = TlsOptions::default();
        let opts = opts.unwrap_or(&default);
        let ca = extra_ca(Some(opts))?;
        let config = if opts.skip_verify {
            shared(alpn, false)?
        } else if ca.is_empty() {
            shared(alpn, true)?
        } else {
            Arc::new(config_with_roots(Arc::new(roots_with(&ca)?), alpn)?)
        };
        let server_name = match opts.server_name.as_str() {
            "" => None,
            name => Some(server_name(name)?),
        };
        Ok(TlsClient {
            connector: TlsConnector::from(config),
            server_name,
        })
    }

    /// The name to present and verify: the configured override, else `host`.
    pub(crate) fn name_for(&self, host: &str) -> Result<ServerName<'static>, Failure> {
        match &self.server_name {
            Some(n) => Ok(n.clone()),
            None => server_name(host).map_err(|m| Failure::new(FailureClass::Tls, m)),
        }
    }

    /// Runs the handshake over `io`; `tls_us` gets its duration.
    pub(crate) async fn handshake<IO>(
        &self,
        io: IO,
        name: ServerName<'static>,
        tls_us: &mut u64,
    ) -> Result<TlsStream<IO>, Failure>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let started = Instant::now();
        let shown = name.to_str().into_owned();
        let r = self.connector.connect(name, io).await;
        *tls_us = micros_since(started);
        r.map_err(|e| {
            Failure::new(
                FailureClass::Tls,
                format!("TLS handshake with {shown} failed: {}", describe_io(&e)),
            )
        })
    }
}

pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string())
        .map_err(|e| format!("{name:?} is not a valid TLS server name: {e}"))
}

fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The system's trust store (webpki roots when the system has none), loaded once: reading
/// it costs milliseconds and it is the same for every monitor.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// The system roots plus the extra CA certificates (validation checked each is a usable
/// trust anchor, the same test `RootCertStore::add` makes).
fn roots_with(ca: &[CertificateDer<'static>]) -> Result<RootCertStore, String> {
    let mut roots = system_roots().clone();
    for c in ca {
        roots
            .add(c.clone())
            .map_err(|e| format!("tls.ca_pem: unusable certificate: {e}"))?;
    }
    Ok(roots)
}

/// The extra CA certificates of `opts`, parsed by the rule validation applies.
fn extra_ca(opts: Option<&TlsOptions>) -> Result<Vec<CertificateDer<'static>>, String> {
    lookout_proto::validate::ca_certs(opts).map_err(|e| e.to_string())
}

/// A chain verifier for `opts`: the shared system one, or one with the extra CA.
pub(crate) fn verifier(opts: Option<&TlsOptions>) -> Result<Arc<WebPkiServerVerifier>, String> {
    match extra_ca(opts)?.as_slice() {
        [] => system_verifier(),
        ca => WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots_with(ca)?),
            provider().clone(),
        )
        .build()
        .map_err(|e| format!("cannot build certificate verifier: {e}")),
    }
}

/// A verifier of chains against the system roots, shared by every certificate check.
fn system_verifier() -> Result<Arc<WebPkiServerVerifier>, String> {
    static VERIFIER: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(system_roots().clone()),
                provider().clone(),
            )
            .build()
            .map_err(|e| format!("cannot build certificate verifier: {e}"))
        })
        .clone()
}

/// A connector that completes the handshake with any certificate (shared).
pub(crate) fn accept_any_connector(alpn: Alpn) -> Result<TlsConnector, String> {
    shared(alpn, false).map(TlsConnector::from)
}

/// Shared configs, one per (ALPN, verify) pair, so the hot path never builds one.
fn shared(alpn: Alpn, verify: bool) -> Result<Arc<ClientConfig>, String> {
    type Slot = OnceLock<Result<Arc<ClientConfig>, String>>;
    static SLOTS: [Slot; 6] = [const { OnceLock::new() }; 6];
    let i = (alpn as usize) * 2 + usize::from(verify);
    SLOTS[i]
        .get_or_init(|| {
            let config = if verify {
                config_with_roots(Arc::new(system_roots().clone()), alpn)?
            } else {
                accept_any_config(alpn)?
            };
            Ok(Arc::new(config))
        })
        .clone()
}

fn config_with_roots(roots: Arc<RootCertStore>, alpn: Alpn) -> Result<ClientConfig, String> {
    let mut c = ClientConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = alpn.protocols();
    Ok(c)
}

/// A config that completes the handshake with any certificate, for `skip_verify` and for the
/// certificate check (which verifies the chain itself to report why it is invalid).
fn accept_any_config(alpn: Alpn) -> Result<ClientConfig, String> {
    let mut c = ClientConfig::builder_with_provider(provider().clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider().clone())))
        .with_no_client_auth();
    c.alpn_protocols = alpn.protocols();
    Ok(c)
}

/// Accepts every certificate but still checks handshake signatures, so the session is at
/// least bound to the key the server presented.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What the assertions need to know about a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFacts {
    /// Validity as Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub subject: String,
    /// DNS names and IP addresses from the subject alternative name extension.
    pub sans: Vec<String>,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
}

impl CertFacts {
    pub(crate) fn parse(der: &[u8]) -> Result<CertFacts, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(d) => sans.push((*d).to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            sans.push(std::net::Ipv4Addr::from(a).to_string());
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            sans.push(std::net::Ipv6Addr::from(a).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(CertFacts {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            subject: cert.subject().to_string(),
            sans,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(der)),
        })
    }

    /// The facts a result carries to the notifier (expiry and renewal).
    pub(crate) fn to_wire(&self) -> lookout_proto::v1::CertificateFacts {
        lookout_proto::v1::CertificateFacts {
            not_before_ms: self.not_before.saturating_mul(1000),
            not_after_ms: self.not_after.saturating_mul(1000),
            subject: self.subject.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// The leaf certificate of an established session.
    pub(crate) fn of_session<IO>(tls: &TlsStream<IO>) -> Result<CertFacts, String> {
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("server sent no certificate")?;
        CertFacts::parse(leaf.as_ref())
    }

    /// Whole days until expiry from `now` (Unix seconds); negative once expired.
    pub(crate) fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// DOWN when fewer than `min_days` remain: "certificate for example.org expires in 3 days".
    pub(crate) fn check_expiry(&self, name: &str, min_days: u32, now: i64) -> Result<(), Failure> {
        let days = self.days_left(now);
        if self.not_after <= now {
            let ago = (now - self.not_after).div_euclid(86_400);
            let on = chrono::DateTime::from_timestamp(self.not_after, 0)
                .map_or_else(String::new, |d| format!(" on {}", d.format("%Y-%m-%d")));
            return Err(Failure::new(
                FailureClass::Tls,
                format!("certificate for {name} expired{on}, {} ago", days_text(ago)),
            ));
        }
        if days < i64::from(min_days) {
            return Err(Failure::new(
                FailureClass::Tls,
                format!(
                    "certificate for {name} expires in {}, fewer than the required {min_days}",
                    days_text(days)
                ),
            ));
        }
        Ok(())
    }
}

/// "1 day", "3 days".
fn days_text(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// Now as Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_messages_count_whole_days() {
        let now = 1_700_000_000;
        let f = CertFacts {
            not_before: now - 86_400,
            not_after: now + 3 * 86_400 + 60,
            subject: String::new(),
            sans: vec![],
            sha256: String::new(),
        };
        assert_eq!(f.days_left(now), 3);
        let e = f.check_expiry("example.org", 7, now).expect_err("3 < 7");
        assert_eq!(
            e.message,
            "certificate for example.org expires in 3 days, fewer than the required 7"
        );
        assert!(f.check_expiry("example.org", 3, now).is_ok());
        let old = CertFacts {
            not_after: now - 2 * 86_400,
            ..f
        };
        assert_eq!(
            old.check_expiry("a", 0, now).expect_err("expired").message,
            "certificate for a expired on 2023-11-12, 2 days ago"
        );
    }

    #[test]
    fn shared_configs_are_built_once() {
        let a = shared(Alpn::Http1, true).expect("config");
        let b = shared(Alpn::Http1, true).expect("config");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(
            &a,
            &shared(Alpn::Http1, false).expect("config")
        ));
    }

    #[test]
    fn bad_ca_pem_is_refused() {
        let opts = TlsOptions {
            ca_pem: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            ..Default::default()
        };
        assert!(TlsClient::new(Some(&opts), Alpn::None).is_err());
    }
}
