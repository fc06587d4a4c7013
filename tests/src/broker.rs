//! A broker of a test's own: a fresh tansu process on a free loopback port in a temporary
//! directory, for tests that load the broker hard (the notifier crash test) and must not share
//! the state of the run's common broker. SIGKILLed when dropped (tansu may ignore SIGTERM
//! under load).

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
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("broker.log")).expect("broker log");
        let child = Command::new(tansu())
            .args(["broker", "--cluster-id", "test"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting tansu ({}): {e}; set LOOKOUT_TANSU or run bash .ci/run",
                    tansu()
                )
            });
        let addr = format!("127.0.0.1:{port}");
        let mut broker = Broker {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&broker.addr).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("tansu exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
