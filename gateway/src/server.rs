//! The HTTP server: the app on hyper's HTTP/1.1 connections, with the protections `axum::serve`
//! does not offer against clients that hold connections without using them (issue #12):
//!
//! * a header-read timeout (`gateway.header_read_timeout`): a request's headers must arrive in
//!   time, and an idle keep-alive connection is closed after as long;
//! * a body idle timeout (`gateway.body_idle_timeout`, [`idle_body`]): reading a request body
//!   fails with `408` when no byte arrives for that long, however long a body that keeps coming
//!   takes;
//! * a cap on the connections one client address holds (`gateway.max_connections_per_address`,
//!   [`per_address`]).
//!
//! Responses are not timed: an event stream stays open as long as its job runs. The binary and
//! the tests serve through [`serve`], so the tests see what production does.

pub mod idle_body;
pub mod per_address;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::middleware;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::GatewayConfig;
use per_address::PerAddress;

/// The answer to a connection beyond the per-address cap, written before closing it.
const REFUSED_BODY: &str =
    "{\"status\": \"error\", \"message\": \"too many connections from your address\"}\n";
/// How long writing that answer may take before the connection is simply dropped.
const REFUSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so that the loop does not spin while it lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serve `app` on `listener` with the connection settings of `config.gateway` until `shutdown`
/// is cancelled; then stop accepting, let every connection finish its request in flight, and
/// return once all are closed. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &GatewayConfig,
    shutdown: CancellationToken,
) {
    let settings = &config.gateway;
    let app = match non_zero(settings.body_idle_timeout) {
        Some(idle) => app.layer(middleware::from_fn(move |request, next| {
            idle_body::limit(idle, request, next)
        })),
        None => app,
    };
    // Validated at load; an invalid list exempts nobody from the cap.
    let proxies = settings.proxies().unwrap_or_default();
    let per_address = PerAddress::new(settings.max_connections_per_address, proxies);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(non_zero(settings.header_read_timeout));

    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
        };
        let Some(slot) = per_address.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many from this address");
            connections.spawn(refuse(stream));
            continue;
        };
        let app = app.clone();
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, app, &builder, shutdown).await;
            drop(slot);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// One connection, until the client or the server closes it; on shutdown the request in
/// flight is finished first.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    builder: &http1::Builder,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Timeouts, resets and malformed requests: the client's business.
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Answer `429` with `Connection: close` and close, without reading the request.
async fn refuse(mut stream: TcpStream) {
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         access-control-allow-origin: *\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{}",
        REFUSED_BODY.len(),
        REFUSED_BODY
    );
    let _ = tokio::time::timeout(REFUSE_WRITE_TIMEOUT, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// An accept error: one connection's failure is skipped, anything else (out of file
/// descriptors) logged and waited out.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept a connection");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// `0s` switches a timeout off.
fn non_zero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}
