//! Single `Range: bytes=…` requests (RFC 9110 14.2). Several ranges are answered with the whole
//! file, which the RFC allows and no flist client needs otherwise.

use bytes::Bytes;

/// An inclusive byte span of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    first: u64,
    last: u64,
    empty: bool,
}

impl ByteRange {
    /// The whole file of `size` bytes.
    pub fn whole(size: u64) -> Self {
        Self {
            first: 0,
            last: size.saturating_sub(1),
            empty: size == 0,
        }
    }

    /// Number of bytes.
    pub fn len(&self) -> u64 {
        if self.empty {
            0
        } else {
            self.last - self.first + 1
        }
    }

    /// Whether the span holds no byte (the whole of an empty file).
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// `Content-Range` of a partial answer.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.first, self.last)
    }

    /// The span of `bytes`, `None` if they are shorter than it.
    pub fn slice(&self, bytes: &Bytes) -> Option<Bytes> {
        if self.empty {
            return Some(Bytes::new());
        }
        let first = usize::try_from(self.first).ok()?;
        let end = usize::try_from(self.last).ok()?.checked_add(1)?;
        (end <= bytes.len()).then(|| bytes.slice(first..end))
    }
}

/// What a `Range` header asks of a file.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: the whole file (200).
    Full,
    /// One satisfiable range (206).
    Partial(ByteRange),
    /// A range outside the file (416).
    Unsatisfiable,
}

/// What to send for a range request: the span with its status and headers set, or the `416`.
#[derive(Debug)]
pub enum Ranged {
    /// Send `span` of the content with `builder` (status `200` or `206`, `Content-Type`,
    /// `Content-Range` and `Content-Length` set).
    Send(http::response::Builder, ByteRange),
    /// The finished `416` (`Content-Range: bytes */<size>`).
    Unsatisfiable(http::Response<axum::body::Body>),
}

impl RangeRequest {
    /// The answer to this range over `size` bytes of `application/octet-stream`, on top of
    /// the headers already in `builder` (validators, caching).
    pub fn answer(
        self,
        builder: http::response::Builder,
        size: u64,
    ) -> Result<Ranged, http::Error> {
        let builder = builder.header(http::header::CONTENT_TYPE, "application/octet-stream");
        let (builder, status, span) = match self {
            Self::Full => (builder, http::StatusCode::OK, ByteRange::whole(size)),
            Self::Partial(span) => (
                builder.header(http::header::CONTENT_RANGE, span.content_range(size)),
                http::StatusCode::PARTIAL_CONTENT,
                span,
            ),
            Self::Unsatisfiable => {
                return builder
                    .status(http::StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(http::header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(axum::body::Body::empty())
                    .map(Ranged::Unsatisfiable);
            }
        };
        let builder = builder
            .status(status)
            .header(http::header::CONTENT_LENGTH, span.len());
        Ok(Ranged::Send(builder, span))
    }

    /// Interpret `header` for a file of `size` bytes. Malformed headers are ignored (the whole
    /// file), as RFC 9110 requires.
    pub fn parse(header: &str, size: u64) -> Self {
        let Some(spec) = header.trim().strip_prefix("bytes=") else {
            return Self::Full;
        };
        if spec.contains(',') {
            return Self::Full;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        let parse = |text: &str| text.parse::<u64>().ok();
        match (first.is_empty(), last.is_empty()) {
            // `bytes=-N`: the last N bytes.
            (true, false) => match parse(last) {
                Some(0) => Self::Unsatisfiable,
                Some(_) if size == 0 => Self::Unsatisfiable,
                Some(suffix) => Self::Partial(ByteRange {
                    first: size.saturating_sub(suffix),
                    last: size - 1,
                    empty: false,
                }),
                None => Self::Full,
            },
            // `bytes=A-`: from A to the end.
            (false, true) => match parse(first) {
                Some(first) if first < size => Self::Partial(ByteRange {
                    first,
                    last: size - 1,
                    empty: false,
                }),
                Some(_) => Self::Unsatisfiable,
                None => Self::Full,
            },
            // `bytes=A-B`, B clamped to the end.
            (false, false) => match (parse(first), parse(last)) {
                (Some(first), Some(last)) if first > last => Self::Full,
                (Some(first), Some(last)) if first < size => Self::Partial(ByteRange {
                    first,
                    last: last.min(size - 1),
                    empty: false,
                }),
                (Some(_), Some(_)) => Self::Unsatisfiable,
                _ => Self::Full,
            },
            (true, true) => Self::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(first: u64, last: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange {
            first,
            last,
            empty: false,
        })
    }

    #[test]
    fn single_ranges() {
        assert_eq!(RangeRequest::parse("bytes=0-9", 100), span(0, 9));
        assert_eq!(RangeRequest::parse("bytes=90-", 100), span(90, 99));
        assert_eq!(RangeRequest::parse("bytes=-10", 100), span(90, 99));
        assert_eq!(RangeRequest::parse("bytes=-500", 100), span(0, 99));
        assert_eq!(RangeRequest::parse("bytes=95-200", 100), span(95, 99));
    }

    #[test]
    fn unsatisfiable_and_ignored_ranges() {
        assert_eq!(
            RangeRequest::parse("bytes=100-", 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            RangeRequest::parse("bytes=200-300", 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            RangeRequest::parse("bytes=-0", 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            RangeRequest::parse("bytes=-5", 0),
            RangeRequest::Unsatisfiable
        );
        for ignored in [
            "items=0-1",
            "bytes=5-1",
            "bytes=0-1,4-5",
            "bytes=x-",
            "bytes=-",
        ] {
            assert_eq!(
                RangeRequest::parse(ignored, 100),
                RangeRequest::Full,
                "{ignored}"
            );
        }
    }

    #[test]
    fn slices_and_headers() {
        let bytes = Bytes::from_static(b"0123456789");
        let RangeRequest::Partial(range) = RangeRequest::parse("bytes=2-4", 10) else {
            panic!("partial expected");
        };
        assert_eq!(range.slice(&bytes).as_deref(), Some(&b"234"[..]));
        assert_eq!(range.len(), 3);
        assert_eq!(range.content_range(10), "bytes 2-4/10");
        assert_eq!(ByteRange::whole(0).len(), 0);
        assert!(ByteRange::whole(0).is_empty() && !range.is_empty());
        assert_eq!(ByteRange::whole(10).slice(&bytes), Some(bytes.clone()));
        assert_eq!(ByteRange::whole(11).slice(&bytes), None);
    }
}
