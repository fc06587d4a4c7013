//! A real SMTP server for the email tests: `server.py` beside this file (aiosmtpd, from PyPI,
//! installed by `.ci/run` into `LOOKOUT_SMTPD_DIR`, `~/.cache/lookout-smtpd` by default) on a
//! spare loopback port, with STARTTLS or implicit TLS under a throwaway CA made here and
//! AUTH against one user. What it received is read back as parsed by Python's email package.
#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it, as PEM files.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    pub fn new(dir: &Path) -> Certs {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Lookout test mail CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("ca cert");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = leaf.signed_by(&key, &issuer).expect("leaf cert");
        let certs = Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("smtp.pem"),
            key: dir.join("smtp.key"),
        };
        std::fs::write(&certs.ca, issuer.pem()).expect("write ca");
        std::fs::write(&certs.cert, cert.pem()).expect("write cert");
        std::fs::write(&certs.key, key.serialize_pem()).expect("write key");
        certs
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Starttls,
    Implicit,
}

pub struct Smtpd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn python_path() -> String {
    std::env::var("LOOKOUT_SMTPD_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/lookout-smtpd",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

impl Smtpd {
    /// Starts the server; TLS modes need `certs`.
    pub fn start(mode: Mode, certs: Option<&Certs>, auth: Option<(&str, &str)>) -> Smtpd {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtpd/server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(port.to_string()).arg(dir.path());
        if mode != Mode::Plain {
            let c = certs.expect("TLS needs certificates");
            cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
            if mode == Mode::Implicit {
                cmd.arg("--implicit");
            }
        }
        if let Some((u, p)) = auth {
            cmd.arg("--auth").arg(format!("{u}:{p}"));
        }
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        cmd.env("PYTHONPATH", python_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd.spawn().expect("python3 runs");
        let mut out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 6];
            let ok = out.read_exact(&mut buf).is_ok() && &buf == b"ready\n";
            let _ = tx.send(ok);
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or(false);
        let s = Smtpd { port, dir, child };
        assert!(
            ready,
            "aiosmtpd did not start (is it installed in {}? .ci/run installs it):\n{}",
            python_path(),
            s.log()
        );
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Every message received so far, in order, as `server.py` parsed it.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "json")
                            && !p
                                .file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|p| {
                serde_json::from_slice(&std::fs::read(p).expect("read message"))
                    .expect("message JSON")
            })
            .collect()
    }

    /// Waits up to 20 s for `n` messages.
    pub async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages arrived:\n{}",
                m.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
