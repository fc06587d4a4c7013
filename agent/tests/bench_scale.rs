//! `lookout-agent bench-scale`, in-process and `--via-gateway` (the agent as its own process
//! fed over gRPC), against a local HTTP target: both schedule every monitor and report every
//! check of the window as run, none missed.

use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every connection with one `200 OK` (the TCP monitors just connect).
async fn target() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                if matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {
                    let _ = conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                }
            });
        }
    });
    addr
}

/// The figures row of one size: monitors, checks, checks/s, up, missed, ...
fn row(stdout: &str) -> Vec<f64> {
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output: {stdout}"));
    line.split_whitespace()
        .map(|f| {
            f.parse()
                .unwrap_or_else(|_| panic!("not a figure in {line:?}"))
        })
        .collect()
}

async fn run(via_gateway: bool) -> Vec<f64> {
    let addr = target().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookout-agent"));
    cmd.args([
        "bench-scale",
        "--sizes",
        "200",
        "--interval-secs",
        "1",
        "--duration-secs",
        "3",
    ])
    .arg("--http-url")
    .arg(format!("http://{addr}/"))
    .arg("--tcp-addr")
    .arg(addr.to_string());
    if via_gateway {
        cmd.arg("--via-gateway");
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("bench-scale runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    row(&stdout)
}

fn assert_all_ran(r: &[f64]) {
    let (monitors, checks, up, missed) = (r[0], r[1], r[3], r[4]);
    assert_eq!(monitors, 200.0, "{r:?}");
    // 200 monitors at 1 s for 3 s: about 600 checks; results still in flight at the end of
    // the window are not counted.
    assert!(checks >= 300.0, "{r:?}");
    assert_eq!(up, checks, "every check of the window succeeded: {r:?}");
    assert_eq!(missed, 0.0, "{r:?}");
    let (rss_mib, setup_secs) = (r[8], r[11]);
    assert!(rss_mib > 1.0 && setup_secs < 30.0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_every_monitor_runs() {
    assert_all_ran(&run(false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn via_the_gateway_every_monitor_runs_in_the_agent_process() {
    assert_all_ran(&run(true).await);
}
