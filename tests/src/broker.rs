//! A broker of a test's own: a fresh tansu process on a free loopback port in a temporary
//! directory, for tests that load the broker hard (the notifier crash test) and must not share
//! the state of the run's common broker. SIGKILLed when dropped (tansu may ignore SIGTERM
//! under load); a test may kill it and start it again on the same port and data (the broker
//! outage test).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::free_port;

pub struct Broker {
    child: Child,
    /// `127.0.0.1:<port>`, for `kafka.brokers`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

/// The tansu binary: `LOOKOUT_TANSU`, or where `.ci/run` builds it.
fn tansu() -> String {
    std::env::var("LOOKOUT_TANSU").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        format!("{home}/.cache/tansu-0.6.0/bin/tansu")
    })
}

impl Broker {
    /// Starts tansu with the SQLite engine and waits until it accepts connections.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("broker dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = spawn(dir.path(), &addr);
        let mut broker = Broker {
            child,
            addr,
            _dir: dir,
        };
        broker.wait_listening();
        broker
    }

    /// SIGKILL: the broker is gone, its data stays in its directory.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the broker again on the same port and data (after [`Broker::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self._dir.path(), &self.addr);
        self.wait_listening();
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tansu exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// tansu on `addr`, its data and log in `dir` (appended to across restarts).
fn spawn(dir: &std::path::Path, addr: &str) -> Child {
    let url = format!("tcp://{addr}");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("broker.log"))
        .expect("broker log");
    Command::new(tansu())
        .args(["broker", "--cluster-id", "test"])
        .args(["--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "starting tansu ({}): {e}; set LOOKOUT_TANSU or run bash .ci/run",
                tansu()
            )
        })
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self._dir.path().join("broker.log")).unwrap_or_default();
            // Its first complaints say most; the rest often repeats them.
            let first: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("panicked") || l.contains("ready in"))
                .take(30)
                .collect();
            eprintln!("----- tansu log (first errors) -----\n{}", first.join("\n"));
        }
    }
}
