//! The SSH restart channel: connects to the server (a public address unless private
//! destinations are allowed), refuses a server not presenting the pinned host key, logs in,
//! claims the server's cooldown in the store (one restart per server per `cooldown_secs`,
//! across notifier processes and restarts), runs the command and reports its exit status and
//! the start of its output. Only incident openings and tests reach it (`lookout-render`'s
//! `sends`); a test connects and logs in without running the command.
//!
//! Once the command is sent the outcome is never retryable: a command that failed, or whose
//! connection dropped (as a reboot drops it), is not run a second time.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EventKind, SshRestart};
use lookout_ssh::{Exit, HostKey, Login, Session, SshError};
use lookout_store::members::RestartClaim;
use lookout_store::{Store, now_ms};

use super::{Channel, Delivered, Delivery, Prepared, SendError};

/// One restart (or, for a test event, one login) to perform.
#[derive(Clone)]
pub struct SshRequest {
    pub integration_id: String,
    pub delivery_id: String,
    pub settings: SshRestart,
    pub test: bool,
}

impl std::fmt::Debug for SshRequest {
    /// Never prints the login.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshRequest")
            .field("integration_id", &self.integration_id)
            .field("server", &server_key(&self.settings))
            .field("test", &self.test)
            .finish()
    }
}

pub struct SshChannel {
    store: Store,
    allow_private: bool,
    connect_timeout: Duration,
    command_wait: Duration,
}

impl SshChannel {
    /// `attempt_timeout` is the dispatcher's: connecting may take a third of it, the command
    /// half, so the outcome is recorded before the dispatcher gives up on the attempt.
    pub fn new(store: Store, allow_private: bool, attempt_timeout: Duration) -> SshChannel {
        SshChannel {
            store,
            allow_private,
            connect_timeout: attempt_timeout / 3,
            command_wait: attempt_timeout / 2,
        }
    }
}

/// The cooldown's key: `host:port`, the host lower-case.
fn server_key(s: &SshRestart) -> String {
    let host = s.ip.trim().to_ascii_lowercase();
    if host.contains(':') {
        format!("[{host}]:{}", s.port)
    } else {
        format!("{host}:{}", s.port)
    }
}

fn failed(e: SshError) -> SendError {
    if e.is_permanent() {
        SendError::permanent(e.to_string())
    } else {
        SendError::retryable(e.to_string())
    }
}

impl Channel for SshChannel {
    fn prepare(&self, d: &Delivery<'_>) -> Result<Prepared, SendError> {
        let Some(Kind::SshRestart(s)) = &d.integration.kind else {
            return Err(SendError::permanent("not an SSH restart integration"));
        };
        let kind = EventKind::try_from(d.event.kind).unwrap_or(EventKind::Unspecified);
        if !matches!(kind, EventKind::Incident | EventKind::Test) {
            return Err(SendError::permanent(format!(
                "an SSH restart runs only when an incident opens, not for {} events",
                kind.label()
            )));
        }
        Ok(Prepared::Ssh(SshRequest {
            integration_id: d.integration.id.clone(),
            delivery_id: d.id.to_string(),
            settings: s.clone(),
            test: kind == EventKind::Test,
        }))
    }

    fn send<'a>(&'a self, p: &'a Prepared) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Prepared::Ssh(r) = p else {
                return Err(SendError::permanent("not an SSH restart"));
            };
            self.restart(r).await
        })
    }
}

impl SshChannel {
    async fn address(&self, s: &SshRestart) -> Result<SocketAddr, SendError> {
        let port = u16::try_from(s.port).unwrap_or(22);
        if !self.allow_private {
            return crate::mail::public_addr(&s.ip, port).await;
        }
        tokio::net::lookup_host((s.ip.trim(), port))
            .await
            .map_err(|e| SendError::retryable(format!("resolving {}: {e}", s.ip)))?
            .next()
            .ok_or_else(|| SendError::retryable(format!("{} has no address", s.ip)))
    }

    async fn restart(&self, r: &SshRequest) -> Result<Delivered, SendError> {
        let s = &r.settings;
        let pinned = HostKey::parse(&s.host_key).map_err(|e| {
            SendError::permanent(format!(
                "the integration has no usable pinned host key ({e}); update it to pin one"
            ))
        })?;
        let addr = self.address(s).await?;
        let mut session = Session::connect(addr, &pinned, self.connect_timeout)
            .await
            .map_err(failed)?;
        let login = if s.private_key.is_empty() {
            Login::Password(&s.password)
        } else {
            Login::Key {
                pem: &s.private_key,
                passphrase: (!s.private_key_passphrase.is_empty())
                    .then_some(s.private_key_passphrase.as_str()),
            }
        };
        session.login(&s.username, &login).await.map_err(failed)?;
        let server = server_key(s);
        if r.test {
            session.close().await;
            return Ok(Delivered {
                status: None,
                excerpt: format!(
                    "connected to {server}, host key {} as pinned, logged in as {}; the \
                     command was not run (test event)",
                    pinned.fingerprint(),
                    s.username
                ),
            });
        }
        let now = now_ms();
        let cooldown_ms = i64::from(s.cooldown_secs) * 1000;
        let claim = self
            .store
            .claim_ssh_restart(&server, now, cooldown_ms, &r.integration_id, &r.delivery_id)
            .await
            .map_err(|e| SendError::retryable(format!("claiming the restart: {e}")))?;
        if let RestartClaim::Cooling { at_ms, delivery_id } = claim {
            session.close().await;
            return Err(SendError::permanent(format!(
                "not restarted: {server} was restarted {} s ago (delivery {delivery_id}), within \
                 its cooldown of {} s; the next restart is possible from {}",
                (now - at_ms) / 1000,
                s.cooldown_secs,
                lookout_render::native::rfc3339_seconds(at_ms + cooldown_ms)
            )));
        }
        tracing::warn!(integration_id = %r.integration_id, delivery_id = %r.delivery_id, %server, "running the restart command");
        let outcome = session.run(&s.command, self.command_wait).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                return Err(SendError::permanent(format!(
                    "{e} (not retried: the restart of {server} is claimed for this delivery)"
                )));
            }
        };
        session.close().await;
        let output = if outcome.output.is_empty() {
            "(no output)".to_string()
        } else {
            outcome.output.clone()
        };
        match outcome.exit {
            Exit::Status(0) => Ok(Delivered {
                status: None,
                excerpt: format!("exit status 0; output: {output}"),
            }),
            Exit::Disconnected => Ok(Delivered {
                status: None,
                excerpt: format!(
                    "the connection closed before the command reported an exit status, as it \
                     does when the server reboots; output: {output}"
                ),
            }),
            Exit::Running => Ok(Delivered {
                status: None,
                excerpt: format!(
                    "still running after {} s, not waited for; output: {output}",
                    self.command_wait.as_secs()
                ),
            }),
            Exit::Status(code) => Err(SendError::Permanent {
                reason: format!("the command exited with status {code}"),
                status: None,
                excerpt: format!("exit status {code}; output: {output}"),
            }),
            Exit::Signal(sig) => Err(SendError::Permanent {
                reason: format!("the command was killed by signal {sig}"),
                status: None,
                excerpt: format!("signal {sig}; output: {output}"),
            }),
        }
    }
}
