//! A TCP proxy on 127.0.0.1 that a test puts between an agent and the coordinator and steers:
//! forward, pause (hold bytes both ways), cut the upstream→client direction (the agent's
//! batches still reach the coordinator, its acknowledgements are lost), refuse (drop every
//! connection and close new ones at once: the agent is cut off), and drop the connections
//! it carries (the agent reconnects).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// Bytes wait in the proxy until the mode changes.
    Pause,
    /// Client→upstream flows; upstream→client bytes are discarded.
    CutDownstream,
    /// No connection is carried.
    Refuse,
}

/// The steering state every connection watches: the mode, and a generation that
/// `drop_connections` bumps to end the connections open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Control {
    mode: Mode,
    generation: u64,
}

pub struct Proxy {
    pub addr: SocketAddr,
    control: watch::Sender<Control>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (control, watcher) = watch::channel(Control {
            mode: Mode::Forward,
            generation: 0,
        });
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watcher = watcher.clone();
                if watcher.borrow().mode == Mode::Refuse {
                    drop(client);
                    continue;
                }
                tokio::spawn(carry(client, upstream, watcher));
            }
        });
        Proxy {
            addr,
            control,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.control.send_modify(|c| c.mode = mode);
    }

    /// Ends every connection carried now; new ones are carried per the mode.
    pub fn drop_connections(&self) {
        self.control.send_modify(|c| c.generation += 1);
    }

    /// Cuts the client off: drops its connections and refuses new ones.
    pub fn refuse(&self) {
        self.control.send_modify(|c| {
            c.mode = Mode::Refuse;
            c.generation += 1;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.refuse();
    }
}

async fn carry(client: TcpStream, upstream: SocketAddr, watcher: watch::Receiver<Control>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let generation = watcher.borrow().generation;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(
        client_read,
        server_write,
        watcher.clone(),
        generation,
        false,
    );
    let down = pump(server_read, client_write, watcher, generation, true);
    // Either direction ending ends the connection (both halves are dropped).
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// Copies `from` to `to` per the mode until either side closes or the connection is dropped.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut watcher: watch::Receiver<Control>,
    generation: u64,
    downstream: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = watcher.changed() => {
                if changed.is_err() || ended(&watcher, generation) {
                    return;
                }
                continue;
            }
        };
        // Hold the bytes while paused.
        while watcher.borrow().mode == Mode::Pause {
            if watcher.changed().await.is_err() {
                return;
            }
        }
        if ended(&watcher, generation) {
            return;
        }
        if downstream && watcher.borrow().mode == Mode::CutDownstream {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn ended(watcher: &watch::Receiver<Control>, generation: u64) -> bool {
    let c = *watcher.borrow();
    c.generation != generation || c.mode == Mode::Refuse
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An echo server on 127.0.0.1:0.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = listener.local_addr().expect("echo address");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn read_within(s: &mut TcpStream, ms: u64) -> Option<Vec<u8>> {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(ms), s.read(&mut buf)).await {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn modes_steer_the_traffic() {
        let proxy = Proxy::start(echo().await).await;
        let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
        s.write_all(b"one").await.expect("write");
        assert_eq!(
            read_within(&mut s, 5_000).await.as_deref(),
            Some(&b"one"[..])
        );

        proxy.set_mode(Mode::CutDownstream);
        s.write_all(b"lost").await.expect("write");
        assert_eq!(
            read_within(&mut s, 300).await,
            None,
            "the echo is discarded"
        );

        proxy.set_mode(Mode::Pause);
        proxy.set_mode(Mode::Forward);
        s.write_all(b"two").await.expect("write");
        assert_eq!(
            read_within(&mut s, 5_000).await.as_deref(),
            Some(&b"two"[..])
        );

        proxy.drop_connections();
        assert_eq!(
            read_within(&mut s, 5_000).await.as_deref(),
            Some(&b""[..]),
            "closed"
        );

        proxy.refuse();
        let mut refused = TcpStream::connect(proxy.addr).await.expect("accepted");
        assert_eq!(
            read_within(&mut refused, 5_000).await.as_deref(),
            Some(&b""[..])
        );

        proxy.set_mode(Mode::Forward);
        let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
        s.write_all(b"back").await.expect("write");
        assert_eq!(
            read_within(&mut s, 5_000).await.as_deref(),
            Some(&b"back"[..])
        );
    }
}
