//! Lookout's SSH client for restart integrations (russh, ring crypto): fetches a server's host
//! key for trust on first use, and otherwise connects only to a server presenting its pinned
//! key, logs in with a password or an ed25519 / ecdsa private key, runs one command and
//! reports its exit status and the start of its output. Callers decide what is allowed to be
//! reached (`lookout-proto`'s address rules) and pass a resolved address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{
    Algorithm, EcdsaCurve, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{ChannelMsg, Disconnect};

/// Bytes of a command's output kept (stdout and stderr, in arrival order).
pub const MAX_OUTPUT_BYTES: usize = 1024;

/// Host key types the client accepts, most preferred first (no RSA: see the crate's docs).
const HOST_KEY_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
];

/// Why talking to a server failed. `is_permanent` says whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("no answer from {addr} within {} ms", timeout.as_millis())]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error(
        "host key mismatch: the integration pinned {expected}, but the server presented \
         {presented}; if the server's key changed on purpose, update the integration with the \
         new host_key (or an empty one to pin what the server presents)"
    )]
    HostKeyMismatch { expected: String, presented: String },
    #[error("{0}")]
    HostKey(String),
    #[error("the server refused the login of {username:?} with the {method}")]
    LoginRefused {
        username: String,
        method: &'static str,
    },
    #[error("the private key does not load: {0}")]
    PrivateKey(String),
    #[error("the SSH session failed: {0}")]
    Protocol(String),
}

impl SshError {
    /// A refused host key, login or key fails the same way again; a network failure may not.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SshError::HostKeyMismatch { .. }
                | SshError::HostKey(_)
                | SshError::LoginRefused { .. }
                | SshError::PrivateKey(_)
        )
    }
}

/// A server's public host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey(PublicKey);

impl HostKey {
    /// Parses `ssh-ed25519 AAAA...` (a trailing comment is ignored).
    pub fn parse(line: &str) -> Result<HostKey, SshError> {
        let mut words = line.split_whitespace();
        let (Some(algorithm), Some(key)) = (words.next(), words.next()) else {
            return Err(SshError::HostKey(
                "a host key is `<type> <base64>`, such as `ssh-ed25519 AAAA...`".into(),
            ));
        };
        let parsed = PublicKey::from_openssh(&format!("{algorithm} {key}"))
            .map_err(|e| SshError::HostKey(format!("the host key does not parse: {e}")))?;
        if !HOST_KEY_ALGORITHMS.contains(&parsed.algorithm()) {
            return Err(SshError::HostKey(format!(
                "host keys of type {} are not supported (ed25519 and ecdsa are)",
                parsed.algorithm()
            )));
        }
        if parsed.algorithm().as_str() != algorithm {
            return Err(SshError::HostKey(format!(
                "the key says it is {}, not {algorithm}",
                parsed.algorithm()
            )));
        }
        Ok(HostKey(parsed))
    }

    /// `ssh-ed25519 AAAA...`, without a comment.
    pub fn to_line(&self) -> String {
        let mut key = self.0.clone();
        key.set_comment("");
        key.to_openssh()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// How to log in.
pub enum Login<'a> {
    Password(&'a str),
    /// An OpenSSH private key and its passphrase, if it is encrypted.
    Key {
        pem: &'a str,
        passphrase: Option<&'a str>,
    },
}

impl Login<'_> {
    fn method(&self) -> &'static str {
        match self {
            Login::Password(_) => "password",
            Login::Key { .. } => "private key",
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Status(u32),
    /// Killed by a signal (`TERM`, ...).
    Signal(String),
    /// The connection closed before the command reported how it ended, as it does when the
    /// server goes down for a reboot.
    Disconnected,
    /// Still running when the wait ended; the session was closed without waiting longer.
    Running,
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub exit: Exit,
    /// The first [`MAX_OUTPUT_BYTES`] of its output (lossy UTF-8).
    pub output: String,
}

/// Checks the host key against the pin (any key when there is none) and remembers what the
/// server presented.
struct PinCheck {
    pinned: Option<PublicKey>,
    presented: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for PinCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            // No certificate algorithm is offered, so none should come.
            return Ok(false);
        };
        *self
            .presented
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key.clone());
        Ok(self
            .pinned
            .as_ref()
            .is_none_or(|p| p.key_data() == key.key_data()))
    }
}

fn config(pinned: Option<&PublicKey>) -> Arc<client::Config> {
    let mut c = client::Config::default();
    // With a pin, ask for exactly the pinned type: a server with keys of several types
    // would otherwise present the one the client prefers, not the pinned one.
    c.preferred.key = match pinned {
        Some(k) => vec![k.algorithm()].into(),
        None => HOST_KEY_ALGORITHMS.to_vec().into(),
    };
    c.inactivity_timeout = Some(Duration::from_secs(60));
    Arc::new(c)
}

/// An SSH session, host key checked, not yet logged in.
pub struct Session {
    handle: Handle<PinCheck>,
}

async fn open(
    addr: SocketAddr,
    pinned: Option<&HostKey>,
    timeout: Duration,
) -> Result<(Handle<PinCheck>, Option<PublicKey>), SshError> {
    let presented = Arc::new(Mutex::new(None));
    let check = PinCheck {
        pinned: pinned.map(|k| k.0.clone()),
        presented: presented.clone(),
    };
    let connected = tokio::time::timeout(
        timeout,
        client::connect(config(pinned.map(|k| &k.0)), addr, check),
    )
    .await
    .map_err(|_| SshError::Timeout { addr, timeout })?;
    let seen = presented
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match connected {
        Ok(handle) => Ok((handle, seen)),
        Err(russh::Error::UnknownKey) => match (pinned, seen) {
            (Some(expected), Some(presented)) => Err(SshError::HostKeyMismatch {
                expected: expected.fingerprint(),
                presented: HostKey(presented).fingerprint(),
            }),
            _ => Err(SshError::HostKey(
                "the server presented no host key of a supported type".into(),
            )),
        },
        Err(russh::Error::NoCommonAlgo { kind, .. }) => Err(SshError::HostKey(format!(
            "the server offers no {kind:?} algorithm Lookout speaks{}",
            match pinned {
                Some(k) => format!(" (the pinned key is {})", k.0.algorithm()),
                None => " (host keys: ed25519 and ecdsa)".into(),
            }
        ))),
        Err(russh::Error::IO(e)) => Err(SshError::Connect {
            addr,
            reason: e.to_string(),
        }),
        Err(e) => Err(SshError::Protocol(e.to_string())),
    }
}

/// Connects to `addr` and returns the host key it presents (ed25519 preferred, then ecdsa),
/// without logging in: the pin of trust on first use.
pub async fn fetch_host_key(addr: SocketAddr, timeout: Duration) -> Result<HostKey, SshError> {
    let (handle, seen) = open(addr, None, timeout).await?;
    let _ = handle
        .disconnect(Disconnect::ByApplication, "host key recorded", "en")
        .await;
    seen.map(HostKey)
        .ok_or_else(|| SshError::Protocol("the server presented no host key".into()))
}

impl Session {
    /// Connects to `addr`; a server that does not present `pinned` is refused
    /// ([`SshError::HostKeyMismatch`]).
    pub async fn connect(
        addr: SocketAddr,
        pinned: &HostKey,
        timeout: Duration,
    ) -> Result<Session, SshError> {
        let (handle, _) = open(addr, Some(pinned), timeout).await?;
        Ok(Session { handle })
    }

    /// Logs in as `username`.
    pub async fn login(&mut self, username: &str, login: &Login<'_>) -> Result<(), SshError> {
        let result = match login {
            Login::Password(pw) => self.handle.authenticate_password(username, *pw).await,
            Login::Key { pem, passphrase } => {
                let key = russh::keys::decode_secret_key(pem, *passphrase)
                    .map_err(|e| SshError::PrivateKey(e.to_string()))?;
                let key = PrivateKeyWithHashAlg::new(Arc::new(key), None);
                self.handle.authenticate_publickey(username, key).await
            }
        }
        .map_err(|e| SshError::Protocol(e.to_string()))?;
        if !result.success() {
            return Err(SshError::LoginRefused {
                username: username.to_string(),
                method: login.method(),
            });
        }
        Ok(())
    }

    /// Runs `command` and waits at most `wait` for it to end, collecting its output. Once the
    /// command is sent, only its outcome is reported, never an error: the caller must not
    /// run it again as if it never started.
    pub async fn run(&mut self, command: &str, wait: Duration) -> Result<CommandOutcome, SshError> {
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| SshError::Protocol(format!("opening a session channel: {e}")))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| SshError::Protocol(format!("starting the command: {e}")))?;
        let mut output: Vec<u8> = Vec::new();
        let mut exit = None;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, channel.wait()).await {
                Ok(m) => m,
                Err(_) => {
                    exit.get_or_insert(Exit::Running);
                    break;
                }
            };
            match msg {
                Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                    let room = MAX_OUTPUT_BYTES.saturating_sub(output.len());
                    output.extend_from_slice(&data[..data.len().min(room)]);
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    exit = Some(Exit::Status(exit_status));
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    exit = Some(Exit::Signal(format!("{signal_name:?}")));
                }
                Some(ChannelMsg::Failure) => {
                    return Err(SshError::Protocol(
                        "the server refused to run the command".into(),
                    ));
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            }
        }
        Ok(CommandOutcome {
            exit: exit.unwrap_or(Exit::Disconnected),
            output: String::from_utf8_lossy(&output).into_owned(),
        })
    }

    /// Ends the session politely (a server already gone is fine).
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "done", "en")
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -t ed25519`; `ssh-keygen -l` prints the fingerprint below.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICJ/1ZbK2aehJl9fuw4xyrcqxgEQ7obgfVMY6XeEwU8C";
    const FINGERPRINT: &str = "SHA256:zSqsMCW9jA6NoYjUkLkj8IkZOZvGNNuk7kkB9jeRYMc";

    #[test]
    fn host_keys_round_trip_and_fingerprint() {
        let k = HostKey::parse(&format!("{ED25519} root@vm")).expect("parses");
        assert_eq!(k.to_line(), ED25519);
        assert_eq!(k.fingerprint(), FINGERPRINT);
        assert_eq!(HostKey::parse(ED25519).expect("again"), k);
        for bad in [
            "ssh-ed25519",
            "ssh-ed25519 AAAA",
            "ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAICJ/1ZbK2aehJl9fuw4xyrcqxgEQ7obgfVMY6XeEwU8C",
        ] {
            assert!(HostKey::parse(bad).is_err(), "{bad}");
        }
    }
}
