//! Validation of SSH restart integrations: where the server is, one way to authenticate, the
//! command (one line), the cooldown between restarts, and the pinned host key's form. The key
//! itself is parsed and fingerprinted where SSH is spoken (`lookout-ssh`).

use super::email::host;
use super::text::bounded;
use super::{FieldError, MAX_SECRET_BYTES, err};
use crate::v1::SshRestart;

pub const DEFAULT_SSH_PORT: u32 = 22;
pub const DEFAULT_SSH_COMMAND: &str = "sudo reboot";
/// Least time between two restarts of one server by default (30 minutes), and its bounds.
pub const DEFAULT_COOLDOWN_SECS: u32 = 1_800;
pub const MIN_COOLDOWN_SECS: u32 = 60;
pub const MAX_COOLDOWN_SECS: u32 = 604_800;
/// Bytes of an SSH user name.
pub const MAX_SSH_USERNAME_BYTES: usize = 64;
/// Bytes of the command.
pub const MAX_SSH_COMMAND_BYTES: usize = 1024;
/// Bytes of an OpenSSH private key (an ecdsa P-521 key with a comment is under 1 KiB).
pub const MAX_PRIVATE_KEY_BYTES: usize = 16 * 1024;
/// Bytes of a pinned host key line.
pub const MAX_HOST_KEY_BYTES: usize = 8 * 1024;
/// Host key algorithms a pin may name (the ones Lookout's client verifies).
pub const HOST_KEY_ALGORITHMS: [&str; 4] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
];

/// Normalises a pinned host key to `algorithm base64`: accepts that, with a trailing
/// comment, or a `known_hosts` / `ssh-keyscan` line (hosts first). Empty stays empty (trust
/// on first use).
pub fn host_key_line(field: &str, raw: &mut String) -> Result<(), FieldError> {
    bounded(field, raw, MAX_HOST_KEY_BYTES)?;
    let words: Vec<&str> = raw.split_whitespace().collect();
    if words.is_empty() {
        raw.clear();
        return Ok(());
    }
    let Some(at) = words.iter().position(|w| HOST_KEY_ALGORITHMS.contains(w)) else {
        return Err(err(
            field,
            format!(
                "names no supported key type ({}): give `ssh-ed25519 AAAA...` as ssh-keyscan \
                 prints it, or leave it empty to pin the server's key on creation",
                HOST_KEY_ALGORITHMS.join(", ")
            ),
        ));
    };
    let Some(key) = words.get(at + 1) else {
        return Err(err(field, "has a key type but no key"));
    };
    let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    if key.len() < 16 || !key.chars().all(base64) {
        return Err(err(field, "has a key that is not base64"));
    }
    *raw = format!("{} {key}", words[at]);
    Ok(())
}

/// Checks an SSH restart integration and fills its defaults (port, command, cooldown).
pub fn ssh_restart(s: &mut SshRestart) -> Result<(), FieldError> {
    host("ssh_restart.ip", &mut s.ip)?;
    if s.port == 0 {
        s.port = DEFAULT_SSH_PORT;
    }
    if s.port > u32::from(u16::MAX) {
        return Err(err(
            "ssh_restart.port",
            format!("{} is invalid, must be 1..=65535", s.port),
        ));
    }
    bounded("ssh_restart.username", &s.username, MAX_SSH_USERNAME_BYTES)?;
    s.username = s.username.trim().to_string();
    if s.username.is_empty() {
        return Err(err("ssh_restart.username", "is required"));
    }
    if s.username
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(err(
            "ssh_restart.username",
            "must not hold spaces or control characters",
        ));
    }
    bounded("ssh_restart.password", &s.password, MAX_SECRET_BYTES)?;
    bounded(
        "ssh_restart.private_key",
        &s.private_key,
        MAX_PRIVATE_KEY_BYTES,
    )?;
    bounded(
        "ssh_restart.private_key_passphrase",
        &s.private_key_passphrase,
        MAX_SECRET_BYTES,
    )?;
    match (s.password.is_empty(), s.private_key.trim().is_empty()) {
        (true, true) => {
            return Err(err(
                "ssh_restart.password",
                "is required (or ssh_restart.private_key): how Lookout logs in",
            ));
        }
        (false, false) => {
            return Err(err(
                "ssh_restart.private_key",
                "is set together with ssh_restart.password: give one way to log in",
            ));
        }
        _ => {}
    }
    if !s.private_key.is_empty() {
        let pem = s.private_key.trim();
        if !pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
            || !pem.ends_with("-----END OPENSSH PRIVATE KEY-----")
        {
            return Err(err(
                "ssh_restart.private_key",
                "must be an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----), as \
                 ssh-keygen writes it",
            ));
        }
        s.private_key = format!("{pem}\n");
    } else if !s.private_key_passphrase.is_empty() {
        return Err(err(
            "ssh_restart.private_key_passphrase",
            "applies to a private_key only",
        ));
    }
    bounded("ssh_restart.command", &s.command, MAX_SSH_COMMAND_BYTES)?;
    s.command = s.command.trim().to_string();
    if s.command.is_empty() {
        s.command = DEFAULT_SSH_COMMAND.into();
    }
    if s.command.chars().any(char::is_control) {
        return Err(err(
            "ssh_restart.command",
            "must be one line without control characters",
        ));
    }
    if s.cooldown_secs == 0 {
        s.cooldown_secs = DEFAULT_COOLDOWN_SECS;
    }
    if !(MIN_COOLDOWN_SECS..=MAX_COOLDOWN_SECS).contains(&s.cooldown_secs) {
        return Err(err(
            "ssh_restart.cooldown_secs",
            format!(
                "{} is invalid, must be {MIN_COOLDOWN_SECS}..={MAX_COOLDOWN_SECS} (0: 1800)",
                s.cooldown_secs
            ),
        ));
    }
    host_key_line("ssh_restart.host_key", &mut s.host_key)?;
    // Output only: the coordinator computes it from the key it pins.
    s.host_key_fingerprint.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn valid() -> SshRestart {
        SshRestart {
            ip: "192.168.1.100".into(),
            username: "admin".into(),
            password: "secure_password".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_the_documents() {
        let mut s = valid();
        ssh_restart(&mut s).expect("valid");
        assert_eq!(s.port, 22);
        assert_eq!(s.command, "sudo reboot");
        assert_eq!(s.cooldown_secs, 1800);
        assert_eq!(s.host_key, "");
    }

    #[test]
    fn host_keys_are_normalised() {
        for raw in [
            format!("ssh-ed25519 {KEY}"),
            format!("ssh-ed25519 {KEY} root@vm"),
            format!("[127.0.0.1]:2222 ssh-ed25519 {KEY}"),
            format!("server.example.com,10.0.0.1 ssh-ed25519 {KEY}\n"),
        ] {
            let mut s = raw.clone();
            host_key_line("k", &mut s).expect(&raw);
            assert_eq!(s, format!("ssh-ed25519 {KEY}"));
        }
        for bad in [
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
            "ssh-ed25519",
            "ssh-ed25519 !!!notbase64!!!",
        ] {
            let mut s = bad.to_string();
            assert_eq!(host_key_line("k", &mut s).expect_err(bad).field, "k");
        }
    }

    /// A change that makes a valid integration invalid, and the field the refusal names.
    type Case = (fn(&mut SshRestart), &'static str);

    #[test]
    fn refusals_name_the_field() {
        let cases: Vec<Case> = vec![
            (|s| s.ip.clear(), "ssh_restart.ip"),
            (|s| s.ip = "a b".into(), "ssh_restart.ip"),
            (|s| s.ip = "x".repeat(300), "ssh_restart.ip"),
            (|s| s.port = 65_536, "ssh_restart.port"),
            (|s| s.username.clear(), "ssh_restart.username"),
            (|s| s.username = "a b".into(), "ssh_restart.username"),
            (|s| s.password.clear(), "ssh_restart.password"),
            (|s| s.password = "p".repeat(2000), "ssh_restart.password"),
            (
                |s| {
                    s.private_key =
                        "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----"
                            .into()
                },
                "ssh_restart.private_key",
            ),
            (
                |s| {
                    s.password.clear();
                    s.private_key = "-----BEGIN RSA PRIVATE KEY-----".into();
                },
                "ssh_restart.private_key",
            ),
            (
                |s| s.private_key_passphrase = "x".into(),
                "ssh_restart.private_key_passphrase",
            ),
            (
                |s| s.command = "reboot\nrm -rf /".into(),
                "ssh_restart.command",
            ),
            (|s| s.command = "x".repeat(2000), "ssh_restart.command"),
            (|s| s.cooldown_secs = 10, "ssh_restart.cooldown_secs"),
            (|s| s.cooldown_secs = 700_000, "ssh_restart.cooldown_secs"),
            (
                |s| s.host_key = "ssh-dss AAAA".into(),
                "ssh_restart.host_key",
            ),
        ];
        for (change, field) in cases {
            let mut s = valid();
            change(&mut s);
            let e = ssh_restart(&mut s).expect_err(field);
            assert_eq!(e.field, field, "{}", e.reason);
        }
    }
}
