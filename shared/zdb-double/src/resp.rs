//! RESP2 framing as 0-db does it: requests are arrays of bulk strings, replies are simple
//! strings, errors, integers, bulks, nil bulks and arrays.

use bytes::{Bytes, BytesMut};

/// Largest element 0-db accepts (8 MiB, inclusive).
pub const MAX_ELEMENT: usize = 8 * 1024 * 1024;
/// Largest number of elements in one request, command name included.
pub const MAX_ARGS: usize = 1024;
/// A header line (`*<n>` or `$<len>`) longer than this cannot be valid.
const MAX_HEADER_LINE: usize = 32;

/// One complete request taken off the connection buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// `*0\r\n`: answered with `-Missing arguments`, the connection stays open.
    Empty,
    /// A request with at least the command name.
    Request(Vec<Bytes>),
}

/// Input the server answers with an error and then closes the connection, because it cannot
/// find where the next request would start.
#[derive(Debug, PartialEq, Eq)]
pub struct FatalInput {
    /// The error sentence sent before closing (without `-` and CRLF).
    pub message: &'static str,
}

impl FatalInput {
    const fn new(message: &'static str) -> Self {
        Self { message }
    }
}

/// Takes one complete request off the front of `buf`.
///
/// Returns `Ok(None)` while the request is incomplete. Oversized elements are refused as soon as
/// their header arrives, before their payload is buffered, which keeps memory bounded.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Frame>, FatalInput> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'*' {
        return Err(FatalInput::new("Malformed request, array expected"));
    }
    let Some((count, mut pos)) = header(buf, 0, "Malformed request, array expected")? else {
        return Ok(None);
    };
    if count == 0 {
        let _ = buf.split_to(pos);
        return Ok(Some(Frame::Empty));
    }
    if count > MAX_ARGS {
        return Err(FatalInput::new("Too many arguments"));
    }
    // First pass: check that every element is complete, remembering where each one lives.
    let mut spans = Vec::with_capacity(count);
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(_) => return Err(FatalInput::new("Malformed query string")),
        }
        let Some((len, data_start)) = header(buf, pos, "Malformed query string")? else {
            return Ok(None);
        };
        if len > MAX_ELEMENT {
            return Err(FatalInput::new("Payload too big"));
        }
        let data_end = data_start + len;
        match buf.get(data_end..data_end + 2) {
            None => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(FatalInput::new("Malformed query string")),
        }
        spans.push((data_start, data_end));
        pos = data_end + 2;
    }
    let frame = buf.split_to(pos).freeze();
    let args = spans
        .into_iter()
        .map(|(start, end)| frame.slice(start..end))
        .collect();
    Ok(Some(Frame::Request(args)))
}

/// Parses `<sigil><decimal>\r\n` at `start`; returns the number and the offset after the CRLF.
fn header(
    buf: &[u8],
    start: usize,
    malformed: &'static str,
) -> Result<Option<(usize, usize)>, FatalInput> {
    let rest = buf.get(start + 1..).unwrap_or_default();
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        if rest.len() > MAX_HEADER_LINE {
            return Err(FatalInput::new(malformed));
        }
        return Ok(None);
    };
    let digits = rest.get(..cr).unwrap_or_default();
    match rest.get(cr + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(FatalInput::new(malformed)),
    }
    let value = std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .ok_or(FatalInput::new(malformed))?;
    Ok(Some((value, start + 1 + cr + 2)))
}

/// A reply, encoded with [`Reply::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+<text>`
    Simple(String),
    /// `-<text>`: 0-db errors are plain sentences without a code word.
    Error(String),
    /// `:<n>`
    Int(i64),
    /// `$<len>\r\n<bytes>`
    Bulk(Bytes),
    /// `$-1`
    Nil,
    /// `*<n>` followed by the elements.
    Array(Vec<Reply>),
}

impl Reply {
    /// `+OK`
    pub fn ok() -> Self {
        Self::Simple("OK".to_owned())
    }

    /// An error reply with the given sentence.
    pub fn error(text: &str) -> Self {
        Self::Error(text.to_owned())
    }

    /// Appends the wire form of the reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Simple(text) => line(out, b'+', text.as_bytes()),
            Self::Error(text) => line(out, b'-', text.as_bytes()),
            Self::Int(n) => line(out, b':', n.to_string().as_bytes()),
            Self::Bulk(data) => {
                line(out, b'$', data.len().to_string().as_bytes());
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Self::Nil => out.extend_from_slice(b"$-1\r\n"),
            Self::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

fn line(out: &mut Vec<u8>, sigil: u8, text: &[u8]) {
    out.push(sigil);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Option<Frame>, FatalInput> {
        let mut buf = BytesMut::from(input);
        parse(&mut buf)
    }

    #[test]
    fn parses_a_complete_request_and_leaves_the_rest() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*1\r\n$4\r\nPI"[..]);
        let frame = parse(&mut buf);
        assert_eq!(
            frame,
            Ok(Some(Frame::Request(vec![
                Bytes::from_static(b"GET"),
                Bytes::from_static(b"k1")
            ])))
        );
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
        assert_eq!(parse(&mut buf), Ok(None));
    }

    #[test]
    fn incomplete_input_waits() {
        for cut in 1..b"*1\r\n$4\r\nPING\r\n".len() {
            assert_eq!(
                parse_all(&b"*1\r\n$4\r\nPING\r\n"[..cut]),
                Ok(None),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn binary_values_keep_their_crlf() {
        let frame = parse_all(b"*2\r\n$3\r\nGET\r\n$4\r\n\r\n\r\n\r\n");
        assert_eq!(
            frame,
            Ok(Some(Frame::Request(vec![
                Bytes::from_static(b"GET"),
                Bytes::from_static(b"\r\n\r\n")
            ])))
        );
    }

    #[test]
    fn malformed_inputs_are_fatal() {
        assert_eq!(
            parse_all(b"PING\r\n"),
            Err(FatalInput::new("Malformed request, array expected"))
        );
        assert_eq!(
            parse_all(b"*1\r\n:4\r\n"),
            Err(FatalInput::new("Malformed query string"))
        );
        assert_eq!(
            parse_all(b"*1\r\n$4\r\nPINGxx"),
            Err(FatalInput::new("Malformed query string"))
        );
        assert_eq!(
            parse_all(b"*1025\r\n"),
            Err(FatalInput::new("Too many arguments"))
        );
        assert_eq!(
            parse_all(b"*x\r\n"),
            Err(FatalInput::new("Malformed request, array expected"))
        );
    }

    #[test]
    fn oversized_element_is_refused_from_its_header() {
        assert_eq!(
            parse_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8388609\r\n"),
            Err(FatalInput::new("Payload too big"))
        );
        // Exactly 8 MiB is allowed: the parser waits for the payload.
        assert_eq!(
            parse_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8388608\r\n"),
            Ok(None)
        );
    }

    #[test]
    fn empty_array_is_a_frame() {
        assert_eq!(parse_all(b"*0\r\n"), Ok(Some(Frame::Empty)));
    }

    #[test]
    fn replies_encode_exactly() {
        let mut out = Vec::new();
        Reply::Array(vec![
            Reply::ok(),
            Reply::error("Key not found"),
            Reply::Int(-3),
            Reply::Bulk(Bytes::from_static(b"v")),
            Reply::Nil,
        ])
        .encode(&mut out);
        assert_eq!(
            out,
            b"*5\r\n+OK\r\n-Key not found\r\n:-3\r\n$1\r\nv\r\n$-1\r\n"
        );
    }
}
