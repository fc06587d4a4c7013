//! The SSH client against a real OpenSSH server on loopback: trust on first use records the
//! key `ssh-keygen` made, password and key logins (ed25519, ecdsa, an encrypted key), a
//! command's exit status and output, and the refusals: another host key, a wrong password, a
//! key the server does not know.

mod sshd;

use std::time::Duration;

use lookout_ssh::{Exit, HostKey, Login, Session, SshError, fetch_host_key};
use sshd::{Sshd, SshdOptions, keygen};

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn password_login_runs_the_command_and_reports_its_exit() {
    let sshd = Sshd::start(SshdOptions {
        host_key: "ed25519",
        authorized: vec![],
        password: Some("s3cret-pw"),
    });
    let key = fetch_host_key(sshd.addr, TIMEOUT).await.expect("host key");
    assert_eq!(key.to_line(), sshd.host_key(), "the key ssh-keygen made");

    let mut s = Session::connect(sshd.addr, &key, TIMEOUT)
        .await
        .expect("connect");
    s.login("root", &Login::Password("s3cret-pw"))
        .await
        .expect("password login");
    let marker = sshd.dir.path().join("marker");
    let out = s
        .run(
            &format!("echo restarted > {} && echo done", marker.display()),
            TIMEOUT,
        )
        .await
        .expect("run");
    assert_eq!(out.exit, Exit::Status(0));
    assert_eq!(out.output, "done\n");
    assert_eq!(
        std::fs::read_to_string(&marker).expect("marker"),
        "restarted\n"
    );
    let out = s.run("echo oops >&2; exit 3", TIMEOUT).await.expect("run");
    assert_eq!(out.exit, Exit::Status(3));
    assert_eq!(out.output, "oops\n");
    s.close().await;

    let mut s = Session::connect(sshd.addr, &key, TIMEOUT)
        .await
        .expect("connect");
    let e = s
        .login("root", &Login::Password("wrong"))
        .await
        .expect_err("wrong password");
    assert!(matches!(e, SshError::LoginRefused { .. }), "{e}");
    assert!(e.is_permanent());
}

#[tokio::test]
async fn key_logins_ed25519_ecdsa_and_encrypted() {
    let dir = tempfile::tempdir().expect("dir");
    let ed = keygen(dir.path(), "ed", "ed25519", "");
    let ec = keygen(dir.path(), "ec", "ecdsa", "");
    let locked = keygen(dir.path(), "locked", "ed25519", "open sesame");
    let stranger = keygen(dir.path(), "stranger", "ed25519", "");
    let sshd = Sshd::start(SshdOptions {
        host_key: "ecdsa",
        authorized: vec![ed.public.clone(), ec.public.clone(), locked.public.clone()],
        password: None,
    });
    let key = fetch_host_key(sshd.addr, TIMEOUT).await.expect("host key");
    assert!(
        key.to_line().starts_with("ecdsa-sha2-nistp256 "),
        "{}",
        key.to_line()
    );
    for (name, login) in [
        (
            "ed25519",
            Login::Key {
                pem: &ed.private,
                passphrase: None,
            },
        ),
        (
            "ecdsa",
            Login::Key {
                pem: &ec.private,
                passphrase: None,
            },
        ),
        (
            "encrypted",
            Login::Key {
                pem: &locked.private,
                passphrase: Some("open sesame"),
            },
        ),
    ] {
        let mut s = Session::connect(sshd.addr, &key, TIMEOUT)
            .await
            .expect(name);
        s.login("root", &login).await.expect(name);
        let out = s.run("true", TIMEOUT).await.expect(name);
        assert_eq!(out.exit, Exit::Status(0), "{name}");
        s.close().await;
    }
    let mut s = Session::connect(sshd.addr, &key, TIMEOUT)
        .await
        .expect("connect");
    let e = s
        .login(
            "root",
            &Login::Key {
                pem: &stranger.private,
                passphrase: None,
            },
        )
        .await
        .expect_err("an unknown key");
    assert!(matches!(e, SshError::LoginRefused { .. }), "{e}");
    let mut s = Session::connect(sshd.addr, &key, TIMEOUT)
        .await
        .expect("connect");
    let e = s
        .login(
            "root",
            &Login::Key {
                pem: &locked.private,
                passphrase: Some("wrong"),
            },
        )
        .await
        .expect_err("a wrong passphrase");
    assert!(matches!(e, SshError::PrivateKey(_)), "{e}");
}

#[tokio::test]
async fn another_host_key_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let ed = keygen(dir.path(), "ed", "ed25519", "");
    let mut sshd = Sshd::start(SshdOptions {
        host_key: "ed25519",
        authorized: vec![ed.public.clone()],
        password: None,
    });
    let pinned = HostKey::parse(&sshd.host_key()).expect("pin");
    Session::connect(sshd.addr, &pinned, TIMEOUT)
        .await
        .expect("the pinned key");
    sshd.regenerate_host_key();
    let now = HostKey::parse(&sshd.host_key()).expect("new key");
    let e = Session::connect(sshd.addr, &pinned, TIMEOUT)
        .await
        .err()
        .expect("refused");
    match &e {
        SshError::HostKeyMismatch {
            expected,
            presented,
        } => {
            assert_eq!(expected, &pinned.fingerprint());
            assert_eq!(presented, &now.fingerprint());
        }
        other => panic!("not a mismatch: {other}"),
    }
    assert!(e.is_permanent());
    // A pin of another type than the server has is refused too, not silently re-pinned.
    let ecdsa = keygen(dir.path(), "other", "ecdsa", "");
    let other = HostKey::parse(&ecdsa.public).expect("ecdsa key");
    let e = Session::connect(sshd.addr, &other, TIMEOUT)
        .await
        .err()
        .expect("refused");
    assert!(e.is_permanent(), "{e}");
    // Nothing listening: retryable.
    drop(sshd);
    let e = Session::connect(
        std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        &pinned,
        TIMEOUT,
    )
    .await
    .err()
    .expect("nothing there");
    assert!(!e.is_permanent(), "{e}");
}
