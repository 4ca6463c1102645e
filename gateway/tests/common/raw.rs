//! Raw HTTP/1.1 over a plain TCP socket, for what HTTP clients will not send: lower-case method
//! names, half-sent headers, bodies trickled byte by byte, connections held idle.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::error::Elapsed;

use super::TestHub;

/// A new connection to the hub.
pub async fn connect(hub: &TestHub) -> TcpStream {
    TcpStream::connect(hub.addr).await.expect("connect")
}

/// Everything the server sends until it closes the connection (end of stream or reset), or
/// `Elapsed` when the connection is still open after `within`.
pub async fn read_until_closed(
    stream: &mut TcpStream,
    within: Duration,
) -> Result<Vec<u8>, Elapsed> {
    tokio::time::timeout(within, async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
}

/// Send `request` (which should say `Connection: close`) on a new connection and return the
/// whole answer as text.
pub async fn exchange(hub: &TestHub, request: &[u8]) -> String {
    let mut stream = connect(hub).await;
    stream.write_all(request).await.expect("send request");
    let answer = read_until_closed(&mut stream, Duration::from_secs(30))
        .await
        .expect("the server answers and closes");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw answer (`HTTP/1.1 200 OK…` → 200).
pub fn status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r').next()?;
    let code = std::str::from_utf8(line).ok()?.split(' ').nth(1)?;
    code.parse().ok()
}
