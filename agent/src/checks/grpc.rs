//! gRPC health check: `grpc.health.v1.Health/Check` for a service name over a fresh HTTP/2
//! connection (TLS optional) that we open and time ourselves, then hand to tonic.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use lookout_proto::FailureClass;
use lookout_proto::bounds::{excerpt, quote};
use lookout_proto::v1::{self, Timings};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;
use tonic::Code;
use tonic::transport::{Endpoint as TonicEndpoint, Uri};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::net::{self, Endpoint, Targets};
use super::tls_client::{Alpn, TlsClient};
use super::{Check, Failure, Outcome, micros_since, timeout_failure};

type Stream = Either<TcpStream, TlsStream<TcpStream>>;

/// A configured gRPC health check.
pub struct GrpcCheck {
    ep: Endpoint,
    service: String,
    tls: Option<TlsClient>,
    /// `http://host:port`: tonic needs a URI; the connection itself is ours.
    uri: Uri,
    /// Which addresses it may connect to.
    targets: Targets,
}

impl GrpcCheck {
    /// Builds the check: address parsed and TLS config chosen once.
    pub fn new(spec: &v1::GrpcHealthCheck) -> Result<GrpcCheck, String> {
        let ep = Endpoint::parse(spec.address.trim()).map_err(|e| format!("grpc.address: {e}"))?;
        let tls = if spec.use_tls {
            Some(TlsClient::new(spec.tls.as_ref(), Alpn::H2).map_err(|e| format!("grpc.{e}"))?)
        } else {
            None
        };
        let uri = format!("http://{ep}")
            .parse::<Uri>()
            .map_err(|e| format!("grpc.address: {e}"))?;
        Ok(GrpcCheck {
            targets: Targets::default(),
            ep,
            service: spec.service.clone(),
            tls,
            uri,
        })
    }

    /// Sets which addresses the check may connect to (public only unless changed).
    pub fn with_targets(mut self, targets: Targets) -> GrpcCheck {
        self.targets = targets;
        self
    }

    async fn run_at(&self, deadline: Instant) -> Outcome {
        let started = Instant::now();
        let mut timings = Timings::default();
        let mut asked = false;
        let result = tokio::time::timeout_at(deadline, self.probe(&mut timings, &mut asked)).await;
        timings.total_us = micros_since(started);
        match result {
            Ok(Ok(())) => Outcome::up(timings),
            Ok(Err(f)) => Outcome::from_failure(f, timings),
            Err(_) => {
                let doing = if asked {
                    format!(
                        "waiting for the health of {} from {}",
                        self.shown_service(),
                        self.ep
                    )
                } else {
                    format!("connecting to {}", self.ep)
                };
                Outcome::from_failure(timeout_failure(started, &doing), timings)
            }
        }
    }

    fn shown_service(&self) -> String {
        if self.service.is_empty() {
            "the server".into()
        } else {
            format!("service {}", quote(&self.service))
        }
    }

    async fn connect(&self, t: &mut Timings) -> Result<Stream, Failure> {
        let addrs = net::resolve(&self.ep, Default::default(), self.targets, &mut t.dns_us).await?;
        let tcp = net::connect(&addrs, net::Writes::Yes, &mut t.connect_us).await?;
        let Some(tls) = &self.tls else {
            return Ok(Either::Left(tcp));
        };
        let name = tls.name_for(&self.ep.host)?;
        Ok(Either::Right(
            tls.handshake(tcp, name, &mut t.tls_us).await?,
        ))
    }

    async fn probe(&self, t: &mut Timings, asked: &mut bool) -> Result<(), Failure> {
        let stream = self.connect(t).await?;
        *asked = true;
        let sent = Instant::now();
        // tonic asks its connector for a connection once; hand it the one we opened and timed.
        let slot = Arc::new(Mutex::new(Some(stream)));
        let connector = tower::service_fn(move |_: Uri| {
            let taken = slot.lock().map(|mut s| s.take()).ok().flatten();
            async move {
                taken
                    .map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("connection already used"))
            }
        });
        let ep = &self.ep;
        let channel = TonicEndpoint::from(self.uri.clone())
            .connect_with_connector(connector)
            .await
            .map_err(|e| {
                Failure::new(
                    FailureClass::Protocol,
                    format!("HTTP/2 handshake with {ep} failed: {e}"),
                )
            })?;
        let reply = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: self.service.clone(),
            })
            .await;
        t.first_byte_us = micros_since(sent);
        let status = match reply {
            Ok(r) => r.into_inner().status,
            Err(s) => return Err(self.status_failure(&s)),
        };
        match ServingStatus::try_from(status) {
            Ok(ServingStatus::Serving) => Ok(()),
            Ok(other) => Err(Failure::new(
                FailureClass::Assertion,
                format!(
                    "{ep} reports {} as {}",
                    self.shown_service(),
                    other.as_str_name()
                ),
            )),
            Err(_) => Err(Failure::new(
                FailureClass::Protocol,
                format!("{ep} sent unknown health status {status}"),
            )),
        }
    }

    fn status_failure(&self, s: &tonic::Status) -> Failure {
        let ep = &self.ep;
        match s.code() {
            Code::NotFound => Failure::new(
                FailureClass::Assertion,
                format!("{ep} does not know {}", self.shown_service()),
            ),
            Code::Unimplemented => Failure::new(
                FailureClass::Protocol,
                format!("{ep} does not implement grpc.health.v1.Health"),
            ),
            Code::Unavailable => Failure::new(
                FailureClass::Connect,
                format!("{ep} is unavailable: {}", excerpt(s.message())),
            ),
            code => Failure::new(
                FailureClass::Protocol,
                format!(
                    "health check to {ep} failed: {code:?}: {}",
                    excerpt(s.message())
                ),
            ),
        }
    }
}

impl Check for GrpcCheck {
    fn run(&self, deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(self.run_at(deadline))
    }
}
