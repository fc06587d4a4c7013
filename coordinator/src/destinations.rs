//! What the coordinator checks about where an integration sends, when it is saved (after its
//! settings are validated): SSH restart servers and email integrations' own SMTP servers must
//! be public addresses unless the deployment allows private destinations; an SSH restart's
//! host key is pinned, by trust on first use when none is given (the coordinator connects
//! once and records the key the server presents, and its fingerprint for the user); and an
//! email recipient who is a member of the project must have verified the address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EmailIntegration, Integration, SshRestart};
use lookout_proto::validate::FieldError;
use lookout_store::Store;

use crate::error::{DomainError, field_error};

/// How long pinning a host key may take: connect and key exchange.
const PIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct DestinationRules {
    /// Whether servers may be loopback, private or link-local addresses.
    pub allow_private: bool,
}

/// The addresses of `host` (a name or an IP literal) at `port`; the first public one, or all
/// of them when private ones are allowed. `field` names the host in errors.
pub(crate) async fn resolve(
    field: &str,
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<SocketAddr, FieldError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| field_error(field, format!("{host} does not resolve: {e}")))?
            .collect(),
    };
    if allow_private {
        return addrs
            .first()
            .copied()
            .ok_or_else(|| field_error(field, format!("{host} has no address")));
    }
    if let Some(a) = addrs
        .iter()
        .find(|a| lookout_proto::address::is_public(a.ip()))
    {
        return Ok(*a);
    }
    let why = addrs
        .first()
        .and_then(|a| lookout_proto::address::non_public(a.ip()).map(|r| (a.ip(), r)));
    Err(match why {
        Some((ip, reason)) => field_error(
            field,
            format!(
                "{host} is {ip}, {reason}: private, loopback and link-local servers are \
                 refused unless the deployment allows private destinations \
                 (allow_private_destinations)"
            ),
        ),
        None => field_error(field, format!("{host} has no address")),
    })
}

impl DestinationRules {
    /// Checks `i` (validated) of `project` against the rules and pins an SSH server's host
    /// key; `stored` is the integration as it was, on update.
    pub async fn apply(
        &self,
        store: &Store,
        project: &str,
        i: &mut Integration,
        stored: Option<&Integration>,
    ) -> Result<(), DomainError> {
        let old = stored.and_then(|s| s.kind.as_ref());
        match i.kind.as_mut() {
            Some(Kind::SshRestart(s)) => {
                let old = match old {
                    Some(Kind::SshRestart(o)) => Some(o),
                    _ => None,
                };
                self.ssh(s, old).await?;
            }
            Some(Kind::Email(e)) => self.email(store, project, e).await?,
            _ => {}
        }
        Ok(())
    }

    async fn email(
        &self,
        store: &Store,
        project: &str,
        e: &EmailIntegration,
    ) -> Result<(), DomainError> {
        if let Some(s) = &e.smtp {
            let port = u16::try_from(s.port).unwrap_or(0);
            resolve("email.smtp.host", &s.host, port, self.allow_private).await?;
        }
        if store.is_unverified_member(project, &e.email).await? {
            return Err(field_error(
                "email.email",
                format!(
                    "{} belongs to a member of this project who has not verified it yet: \
                     verify it first (lookout users verify {} CODE, with the code mailed to it)",
                    e.email, e.email
                ),
            )
            .into());
        }
        Ok(())
    }

    async fn ssh(&self, s: &mut SshRestart, old: Option<&SshRestart>) -> Result<(), DomainError> {
        let port = u16::try_from(s.port).unwrap_or(22);
        let addr = resolve("ssh_restart.ip", &s.ip, port, self.allow_private).await?;
        let key = if s.host_key.is_empty() {
            // Trust on first use: the key the server presents now is the one every
            // delivery checks.
            let key = lookout_ssh::fetch_host_key(addr, PIN_TIMEOUT)
                .await
                .map_err(|e| {
                    field_error(
                        "ssh_restart.host_key",
                        format!(
                            "is empty, so Lookout pins the key the server presents, but {e}; \
                             make the server reachable from the coordinator, or give its key \
                             (`ssh-keyscan -t ed25519 {}`)",
                            s.ip
                        ),
                    )
                })?;
            tracing::info!(server = %addr, fingerprint = %key.fingerprint(), "pinned an SSH host key on first use");
            key
        } else {
            lookout_ssh::HostKey::parse(&s.host_key)
                .map_err(|e| field_error("ssh_restart.host_key", e.to_string()))?
        };
        if let Some(o) = old {
            let moved = !o.ip.eq_ignore_ascii_case(&s.ip) || o.port != s.port;
            if moved && !s.host_key.is_empty() && s.host_key == o.host_key {
                return Err(field_error(
                    "ssh_restart.host_key",
                    "is the key pinned for the previous server: give the new server's key, or \
                     leave it empty to pin the key it presents",
                )
                .into());
            }
        }
        s.host_key = key.to_line();
        s.host_key_fingerprint = key.fingerprint();
        Ok(())
    }
}
