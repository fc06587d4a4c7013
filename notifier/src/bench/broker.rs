//! The broker of a Kafka benchmark: the one named by `--kafka` / `LOOKOUT_TEST_KAFKA`, or a
//! fresh tansu (SQLite engine) in a temporary directory on a free loopback port, stopped by
//! its own PID with SIGKILL (it ignores SIGTERM under load). A broker that exits early is a
//! broker failure.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{BenchError, BrokerArgs};

/// How long a fresh broker may take to accept connections.
const START_BOUND: Duration = Duration::from_secs(20);

pub(super) struct Broker {
    pub address: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Broker {
    pub async fn start(args: &BrokerArgs) -> Result<Broker, BenchError> {
        if let Some(address) = &args.kafka {
            return Ok(Broker {
                address: address.clone(),
                child: None,
                _dir: None,
            });
        }
        let dir = tempfile::tempdir().map_err(|e| BenchError::setup("temp dir", e))?;
        let port = free_port().await?;
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let child = spawn(&args.tansu, dir.path(), &url)?;
        let mut broker = Broker {
            address,
            child: Some(child),
            _dir: Some(dir),
        };
        let deadline = tokio::time::Instant::now() + START_BOUND;
        loop {
            broker.check_alive()?;
            if tokio::net::TcpStream::connect(&broker.address)
                .await
                .is_ok()
            {
                return Ok(broker);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BenchError::Broker(format!(
                    "tansu did not accept connections on {} within {} s",
                    broker.address,
                    START_BOUND.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A broker failure when the broker we started has exited.
    pub fn check_alive(&mut self) -> Result<(), BenchError> {
        let Some(child) = &mut self.child else {
            return Ok(());
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Broker(format!("tansu exited: {status}"))),
            Err(e) => Err(BenchError::Broker(format!("tansu: {e}"))),
        }
    }

    /// A broker failure when the broker died, else `what` timed out talking to it.
    pub fn failed(&mut self, what: &str) -> BenchError {
        match self.check_alive() {
            Err(e) => e,
            Ok(()) => {
                BenchError::Broker(format!("{what} (the broker is running but did not answer)"))
            }
        }
    }

    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL by PID: tansu ignores SIGTERM when busy.
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }
}

fn spawn(tansu: &Path, dir: &Path, url: &str) -> Result<Child, BenchError> {
    Command::new(tansu)
        .current_dir(dir)
        .args(["broker", "--cluster-id", "bench", "--listener-url", url])
        .args(["--advertised-listener-url", url])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Broker(format!("starting {}: {e}", tansu.display())))
}

async fn free_port() -> Result<u16, BenchError> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::setup("finding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::setup("finding a free port", e))
}
