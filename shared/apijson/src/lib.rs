//! JSON serialised the way the original hub's Python `json.dumps` wrote it.
//!
//! Clients parse JSON, but scripts around the original hub `grep` its output, so the hub keeps
//! Python's defaults (hub-api §2.1): separators `", "` and `": "`, every non-ASCII character
//! escaped as `\uXXXX` (UTF-16 surrogate pairs above the BMP), keys in declaration order, and a
//! trailing newline. The gateway renders its compat bodies with it; workers use it to
//! precompute the contents dump of a flist exactly as it is served.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// Serialise `value` like Python's `json.dumps(value)` followed by `\n`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut serializer)?;
    out.push(b'\n');
    Ok(out)
}

/// `serde_json` formatter reproducing Python's default `json.dumps` layout.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Fast path: most names are ASCII.
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for ch in fragment.chars() {
            if ch.is_ascii() {
                writer.write_all(&[ch as u8])?;
            } else {
                for unit in ch.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        // Python writes control characters as lowercase `\u00XX`, like serde_json, and the
        // short forms for the usual five.
        let bytes: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{byte:04x}"),
        };
        writer.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dumps(value: &serde_json::Value) -> String {
        String::from_utf8(to_vec(value).expect("serialise")).expect("utf-8")
    }

    #[test]
    fn python_separators_and_newline() {
        #[derive(Serialize)]
        struct Entry<'a> {
            name: &'a str,
            size: &'a str,
            updated: u64,
            r#type: &'a str,
        }
        let body = to_vec(&[Entry {
            name: "a.flist",
            size: "0.12 KB",
            updated: 1,
            r#type: "regular",
        }])
        .expect("serialise");
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            "[{\"name\": \"a.flist\", \"size\": \"0.12 KB\", \"updated\": 1, \"type\": \"regular\"}]\n"
        );
    }

    #[test]
    fn non_ascii_is_escaped_like_python() {
        // python3 -c 'import json; print(json.dumps({"n": "café 😀\x01\n"}))'
        assert_eq!(
            dumps(&json!({"n": "café 😀\u{1}\n"})),
            "{\"n\": \"caf\\u00e9 \\ud83d\\ude00\\u0001\\n\"}\n"
        );
    }

    #[test]
    fn empty_containers() {
        assert_eq!(dumps(&json!([])), "[]\n");
        assert_eq!(dumps(&json!({})), "{}\n");
        assert_eq!(
            dumps(&json!({"a": [], "b": {}})),
            "{\"a\": [], \"b\": {}}\n"
        );
    }
}
