//! Accept loop and per-connection request handling.

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::commands::{Outcome, Server, Session};
use crate::faults::Faults;
use crate::namespace::Catalog;
use crate::resp::{self, Frame, Reply};
use crate::stats::Counters;

/// Initial read buffer of a connection; it grows up to one request (≤ 8 MiB per element).
const READ_BUFFER: usize = 64 * 1024;

/// State that survives a stop/restart, like 0-db's files on disk.
#[derive(Debug)]
pub(crate) struct Shared {
    pub catalog: Mutex<Catalog>,
    pub admin_password: Option<String>,
    pub faults: Faults,
    pub counters: Counters,
}

/// Accepts connections until `stop` fires, then closes every connection it opened.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "zdb double: connection accepted");
                    let shared = Arc::clone(&shared);
                    let kill = shared.faults.kill_signal();
                    connections.spawn(serve(stream, shared, kill));
                }
                Err(error) => tracing::warn!(%error, "zdb double: accept failed"),
            },
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Keeps the open-connection gauge right however the connection task ends (even aborted).
struct OpenGuard<'a>(&'a Counters);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>, mut kill: watch::Receiver<u64>) {
    shared.counters.connection_opened();
    let _open = OpenGuard(&shared.counters);
    kill.mark_unchanged();
    // Replies are written in one go; without this, the kernel may hold a reply back.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "zdb double: cannot set TCP_NODELAY");
    }
    let mut session = Session::new(shared.admin_password.as_deref());
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let mut out = Vec::new();
    loop {
        // Answer every complete request already buffered, one at a time and in order.
        loop {
            let frame = match resp::parse(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(fatal) => {
                    out.clear();
                    Reply::error(fatal.message).encode(&mut out);
                    let _ = stream.write_all(&out).await;
                    return;
                }
            };
            let outcome = match frame {
                Frame::Empty => Reply::error("Missing arguments").into(),
                Frame::Request(args) => {
                    if let Some(name) = args.first() {
                        shared.counters.command(name);
                    }
                    if shared.faults.take_drop() {
                        return;
                    }
                    let server = Server {
                        catalog: &shared.catalog,
                        admin_password: shared.admin_password.as_deref(),
                        faults: &shared.faults,
                    };
                    session.execute(&server, &args)
                }
            };
            let delay = shared.faults.reply_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            // A client that waits for each reply cannot have sent anything more yet.
            let _ = stream.try_read_buf(&mut buf);
            if !buf.is_empty() {
                shared.counters.pipelined();
            }
            if !send(&mut stream, &mut out, &outcome).await || outcome.close {
                return;
            }
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = kill.changed() => return,
        }
    }
}

async fn send(stream: &mut TcpStream, out: &mut Vec<u8>, outcome: &Outcome) -> bool {
    out.clear();
    outcome.reply.encode(out);
    let sent = stream.write_all(out).await.is_ok();
    // Do not keep an 8 MiB buffer per idle connection after one large GET.
    if out.capacity() > READ_BUFFER {
        *out = Vec::new();
    }
    sent
}
