//! The body idle timeout: reading a request body fails when no byte has arrived for
//! `gateway.body_idle_timeout` while the handler waits for one.
//!
//! Only the time the handler spends *waiting for the client* counts: while a handler does
//! something else (takes a job slot, writes to the store) the client is not to blame, and an
//! `Expect: 100-continue` client only starts sending once the body is first read. A body that
//! keeps arriving, however slowly overall, is never cut.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::{ApiError, ErrorKind};

/// The error a body read returns when the client stopped sending.
#[derive(Debug, thiserror::Error)]
#[error("no request body data received for {}", humantime::format_duration(*.0))]
pub struct BodyIdleTimeout(pub Duration);

/// Middleware: give the request an idle-timed body; when it timed out, answer `408` with
/// `Connection: close` whatever the handler made of the failed read (the handler only sees a
/// broken body and may well report it otherwise).
pub async fn limit(idle: Duration, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let request = request.map(|body| Body::new(IdleBody::new(body, idle, flag)));
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let mut response = ApiError::new(ErrorKind::BodyIdle {
        detail: BodyIdleTimeout(idle).to_string(),
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    // Made outside the app's layers, which put this on every other answer.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// A request body whose reads fail after `idle` without data.
pub struct IdleBody {
    inner: Body,
    idle: Duration,
    /// Running while the reader waits for data; `None` until the first wait.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether `timer` counts the current wait (it is reset when a new wait begins).
    waiting: bool,
    expired: Arc<AtomicBool>,
}

impl IdleBody {
    /// `inner`, failing after `idle` without data; `expired` is set when it does.
    pub fn new(inner: Body, idle: Duration, expired: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            idle,
            timer: None,
            waiting: false,
            expired,
        }
    }

    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = Instant::now() + self.idle;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.waiting {
            timer.as_mut().reset(deadline);
            self.waiting = true;
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl HttpBody for IdleBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyIdleTimeout(this.idle)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame)
            }
            Poll::Pending if this.timed_out(cx) => {
                this.expired.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new(BodyIdleTimeout(this.idle)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// The timeout of these tests, and the pause of a body that keeps coming.
    const IDLE: Duration = Duration::from_millis(300);
    const PAUSE: Duration = Duration::from_millis(50);

    fn trickle(pause: Duration, pieces: usize) -> Body {
        let stream = futures::stream::unfold(0, move |sent| async move {
            if sent == pieces {
                return None;
            }
            tokio::time::sleep(pause).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), sent + 1))
        });
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_body_pausing_longer_than_the_timeout_fails() {
        let expired = Arc::new(AtomicBool::new(false));
        let body = IdleBody::new(trickle(PAUSE * 12, 3), IDLE, expired.clone());
        let Err(error) = body.collect().await else {
            panic!("a body pausing longer than the timeout was read whole");
        };
        assert!(
            error
                .to_string()
                .contains("no request body data received for 300ms"),
            "{error}"
        );
        assert!(expired.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_body_that_keeps_coming_may_take_longer_than_the_timeout() {
        let expired = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let body = IdleBody::new(trickle(PAUSE, 20), IDLE, expired.clone());
        let bytes = body.collect().await.expect("whole body").to_bytes();
        assert_eq!(bytes.len(), 20);
        assert!(started.elapsed() >= IDLE * 3);
        assert!(!expired.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn time_the_reader_spends_elsewhere_does_not_count() {
        let expired = Arc::new(AtomicBool::new(false));
        let mut body = IdleBody::new(trickle(PAUSE, 2), IDLE, expired);
        assert!(body.frame().await.expect("frame").is_ok());
        // The handler is busy for three timeouts; then the next byte arrives in time.
        tokio::time::sleep(IDLE * 3).await;
        assert!(body.frame().await.expect("frame").is_ok());
    }
}
