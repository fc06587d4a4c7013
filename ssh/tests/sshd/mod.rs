//! A real OpenSSH server (Debian's `/usr/sbin/sshd`) on a spare loopback port with a throwaway
//! configuration in a temporary directory: its own host key, its own `authorized_keys`, no PAM.
//! Password logins need root's password, which the machine's `/etc/shadow` does not hold: the
//! server then runs in a private mount namespace (`unshare --mount`) where a copy of
//! `/etc/shadow` giving root the test password is bind-mounted over the real one, so nothing
//! on the machine changes. Shared by the `lookout-ssh` and notifier tests.
#![allow(dead_code)] // each test file uses a different part

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// A key pair made by `ssh-keygen`.
pub struct KeyPair {
    /// The OpenSSH private key (PEM).
    pub private: String,
    /// `ssh-ed25519 AAAA... comment`.
    pub public: String,
}

/// Makes a key pair of `kind` (`ed25519`, `ecdsa`) in `dir` as `name`.
pub fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> KeyPair {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "lookout-test",
            "-f",
        ])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs (apt-get install openssh-client)");
    assert!(status.success(), "ssh-keygen -t {kind} failed");
    KeyPair {
        private: std::fs::read_to_string(&path).expect("private key"),
        public: std::fs::read_to_string(format!("{}.pub", path.display())).expect("public key"),
    }
}

pub struct SshdOptions {
    /// Type of the server's one host key.
    pub host_key: &'static str,
    /// Lines of `authorized_keys` (root's).
    pub authorized: Vec<String>,
    /// Root's password, for password logins.
    pub password: Option<&'static str>,
}

pub struct Sshd {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    options: SshdOptions,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Sshd {
    /// Starts sshd on a free loopback port; panics (with its log) when it does not come up.
    pub fn start(options: SshdOptions) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install openssh-server (.ci/run does)"
        );
        // Debian's sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (run the tests as root)");
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut s = Sshd {
            addr,
            dir,
            options,
            child: None,
        };
        s.new_host_key();
        s.launch();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ssh-ed25519 AAAA...` of the server's current host key.
    pub fn host_key(&self) -> String {
        let text = std::fs::read_to_string(self.path("host_key.pub")).expect("host key");
        let mut words = text.split_whitespace();
        format!(
            "{} {}",
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default()
        )
    }

    fn new_host_key(&self) {
        keygen(self.dir.path(), "host_key", self.options.host_key, "");
    }

    fn launch(&mut self) {
        let password = self.options.password.is_some();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PermitRootLogin yes\nPubkeyAuthentication yes\nPasswordAuthentication {pw}\n\
             KbdInteractiveAuthentication no\nMaxStartups 100\nLogLevel VERBOSE\n",
            port = self.addr.port(),
            dir = self.dir.path().display(),
            pw = if password { "yes" } else { "no" },
        );
        std::fs::write(self.path("sshd_config"), config).expect("write sshd_config");
        std::fs::write(
            self.path("authorized_keys"),
            self.options.authorized.join("\n") + "\n",
        )
        .expect("write authorized_keys");
        let log = std::fs::File::create(self.path("sshd.log")).expect("log file");
        let sshd = format!(
            "exec {SSHD} -D -e -f {}",
            self.path("sshd_config").display()
        );
        let mut cmd = match self.options.password {
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", &sshd]);
                c
            }
            Some(pw) => {
                let shadow = self.shadow_with_root_password(pw);
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "sh", "-c"]);
                c.arg(format!(
                    "mount --bind {} /etc/shadow && {sshd}",
                    shadow.display()
                ));
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("start sshd"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) {
                use std::io::Read;
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 4];
                if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("sshd exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not come up on {}:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A copy of `/etc/shadow` in which root's password is `password`.
    fn shadow_with_root_password(&self, password: &str) -> PathBuf {
        let out = Command::new("openssl")
            .args(["passwd", "-6", password])
            .output()
            .expect("openssl passwd");
        let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(hash.starts_with("$6$"), "openssl passwd -6 gave {hash:?}");
        let shadow = std::fs::read_to_string("/etc/shadow").expect("read /etc/shadow (as root)");
        let patched: String = shadow
            .lines()
            .map(|l| match l.split_once(':') {
                Some(("root", rest)) => {
                    let rest = rest.split_once(':').map_or("", |(_, r)| r);
                    format!("root:{hash}:{rest}\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        let path = self.path("shadow");
        std::fs::write(&path, patched).expect("write shadow copy");
        path
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts the server on the same port with a new host key (a reinstalled machine, or a
    /// machine in the middle).
    pub fn regenerate_host_key(&mut self) {
        self.stop();
        self.new_host_key();
        self.launch();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
