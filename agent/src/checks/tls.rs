//! TLS certificate check: handshake with any certificate, then judge the chain against the
//! trust store, the name, the days left, and the expected subject and SANs, so each problem
//! gets its own message.

use std::sync::Arc;

use futures::future::BoxFuture;
use lookout_proto::FailureClass;
use lookout_proto::bounds::{excerpt, quote};
use lookout_proto::v1::{self, IpPreference, Timings};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{ServerName, UnixTime};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::net::{self, Endpoint, Targets};
use super::tls_client::{Alpn, CertFacts, accept_any_connector, server_name, unix_now, verifier};
use super::tls_errors::{describe, describe_io};
use super::{Check, Failure, Outcome, micros_since, timeout_failure};

/// A configured certificate check.
pub struct TlsCheck {
    ep: Endpoint,
    pref: IpPreference,
    name: ServerName<'static>,
    connector: TlsConnector,
    verifier: Arc<WebPkiServerVerifier>,
    /// Chain and name checks are skipped when `tls.skip_verify` is set; expiry still counts.
    verify: bool,
    min_days: u32,
    expected_subject: String,
    expected_sans: Vec<String>,
    /// Which addresses it may connect to.
    targets: Targets,
}

impl TlsCheck {
    /// Builds the check: address and server name parsed, verifier chosen once.
    pub fn new(spec: &v1::TlsCheck) -> Result<TlsCheck, String> {
        let ep = Endpoint::parse(spec.address.trim()).map_err(|e| format!("tls.address: {e}"))?;
        let opts = spec.tls.as_ref();
        let name = match opts.map(|o| o.server_name.trim()).filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => ep.host.clone(),
        };
        Ok(TlsCheck {
            targets: Targets::default(),
            pref: IpPreference::try_from(spec.ip_preference).unwrap_or_default(),
            name: server_name(&name).map_err(|e| format!("tls.tls.server_name: {e}"))?,
            connector: accept_any_connector(Alpn::None)?,
            verifier: verifier(opts).map_err(|e| format!("tls.{e}"))?,
            verify: !opts.is_some_and(|o| o.skip_verify),
            min_days: spec.min_days_remaining,
            expected_subject: spec.expected_subject.clone(),
            expected_sans: spec
                .expected_sans
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .collect(),
            ep,
        })
    }

    /// Sets which addresses the check may connect to (public only unless changed).
    pub fn with_targets(mut self, targets: Targets) -> TlsCheck {
        self.targets = targets;
        self
    }

    async fn run_at(&self, deadline: Instant) -> Outcome {
        let started = Instant::now();
        let mut timings = Timings::default();
        let mut in_handshake = false;
        let mut cert = None;
        let result = tokio::time::timeout_at(
            deadline,
            self.probe(&mut timings, &mut in_handshake, &mut cert),
        )
        .await;
        timings.total_us = micros_since(started);
        // The certificate is reported whatever the verdict: an expired one is exactly what
        // the notifier's expiry rule wants to see.
        let cert = cert.map(|c: CertFacts| c.to_wire());
        match result {
            Ok(Ok(())) => Outcome::up(timings).with_certificate(cert),
            Ok(Err(f)) => Outcome::from_failure(f, timings).with_certificate(cert),
            Err(_) => {
                let doing = if in_handshake {
                    format!("in the TLS handshake with {}", self.ep)
                } else {
                    format!("connecting to {}", self.ep)
                };
                Outcome::from_failure(timeout_failure(started, &doing), timings)
            }
        }
    }

    async fn probe(
        &self,
        t: &mut Timings,
        in_handshake: &mut bool,
        cert: &mut Option<CertFacts>,
    ) -> Result<(), Failure> {
        let addrs = net::resolve(&self.ep, self.pref, self.targets, &mut t.dns_us).await?;
        let stream = net::connect(&addrs, net::Writes::Yes, &mut t.connect_us).await?;
        *in_handshake = true;
        let shown = self.name.to_str();
        let handshake_started = Instant::now();
        let tls = self.connector.connect(self.name.clone(), stream).await;
        t.tls_us = micros_since(handshake_started);
        let tls = tls.map_err(|e| {
            Failure::new(
                FailureClass::Tls,
                format!("TLS handshake with {shown} failed: {}", describe_io(&e)),
            )
        })?;
        let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Failure::new(
                FailureClass::Tls,
                format!("{shown} sent no certificate"),
            ));
        };
        let facts = CertFacts::parse(leaf.as_ref()).map_err(|e| {
            Failure::new(FailureClass::Tls, format!("certificate for {shown}: {e}"))
        })?;
        *cert = Some(facts.clone());
        let now = unix_now();
        // Expiry first: "expired 2 days ago" says more than the verifier's generic error.
        facts.check_expiry(&shown, 0, now)?;
        if self.verify {
            self.verifier
                .verify_server_cert(leaf, intermediates, &self.name, &[], UnixTime::now())
                .map_err(|e| Failure::new(FailureClass::Tls, describe(&e)))?;
        }
        facts.check_expiry(&shown, self.min_days, now)?;
        if !self.expected_subject.is_empty() && !facts.subject.contains(&self.expected_subject) {
            return Err(Failure::new(
                FailureClass::Assertion,
                format!(
                    "certificate subject of {shown} is {}, expected it to contain {}",
                    quote(&facts.subject),
                    quote(&self.expected_subject)
                ),
            ));
        }
        for want in &self.expected_sans {
            if !facts.sans.iter().any(|s| s.eq_ignore_ascii_case(want)) {
                return Err(Failure::new(
                    FailureClass::Assertion,
                    format!(
                        "certificate for {shown} does not name {}; its names are {}",
                        excerpt(want),
                        excerpt(&facts.sans.join(", "))
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Check for TlsCheck {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_at(deadline))
    }
}
