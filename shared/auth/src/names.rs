//! Name rules of spec §3: validation of created names (§3.5), Werkzeug's `secure_filename`
//! (§3.2 step 2) and the derivation of an uploaded flist's name (§3.2).
//!
//! The gateway calls these before creating anything; names that only *read* existing entries are
//! looked up exactly as stored and must not go through the validators (old hubs contain names
//! created without validation).

use std::borrow::Cow;

use http::StatusCode;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// Longest accepted name, in bytes of UTF-8 (spec §3.5).
pub const MAX_NAME_BYTES: usize = 255;

/// Names that cannot be repositories: static routes would shadow them (spec §3.4), and `me` is the
/// authenticated API's own prefix.
pub const RESERVED_REPOSITORY_NAMES: &[&str] = &[
    "me",
    "upload",
    "upload-flist",
    "merge",
    "docker-convert",
    "search",
    "login",
    "login-method",
    "login-iyo",
    "logout",
    "token",
    "readonly",
    "listen",
    "static",
    "api",
    "callback_threebot",
    "callback_token",
    "_iyo_callback",
];

/// Which kind of name broke a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A repository (user or organisation) name.
    Repository,
    /// A flist or link name.
    Flist,
    /// A tag name.
    Tag,
}

impl NameKind {
    /// `repository`, `flist` or `tag`, as the messages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repository => "repository",
            Self::Flist => "flist",
            Self::Tag => "tag",
        }
    }
}

/// A created name broke the rules of spec §3.5. Each variant renders the API message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A repository (user or organisation) name.
    #[error("invalid repository name")]
    Repository,
    /// A flist or link name.
    #[error("invalid flist name")]
    Flist,
    /// A tag name.
    #[error("invalid tag name")]
    Tag,
    /// The name holds a character that is invisible or reorders the text around it (see
    /// [`is_hidden_character`]), so the name would not read as what it is. The message starts
    /// with the catalogue's `invalid … name` and names the code point.
    #[error(
        "invalid {} name: U+{:04X} is an invisible or bidirectional formatting character",
        .kind.as_str(),
        u32::from(*.character)
    )]
    HiddenCharacter {
        /// The kind of name.
        kind: NameKind,
        /// The offending character.
        character: char,
    },
}

impl NameError {
    /// HTTP status of the error: always 400.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    /// The message for the client: the exact catalogue message (spec §14), followed by what is
    /// wrong for [`NameError::HiddenCharacter`].
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            Self::Repository => Cow::Borrowed("invalid repository name"),
            Self::Flist => Cow::Borrowed("invalid flist name"),
            Self::Tag => Cow::Borrowed("invalid tag name"),
            Self::HiddenCharacter { .. } => Cow::Owned(self.to_string()),
        }
    }

    fn plain(kind: NameKind) -> Self {
        match kind {
            NameKind::Repository => Self::Repository,
            NameKind::Flist => Self::Flist,
            NameKind::Tag => Self::Tag,
        }
    }
}

/// Check a repository name being created: the common rules plus the reserved names of §3.4.
pub fn validate_repository_name(name: &str) -> Result<(), NameError> {
    check_name(NameKind::Repository, name)?;
    if RESERVED_REPOSITORY_NAMES.contains(&name) {
        return Err(NameError::Repository);
    }
    Ok(())
}

/// Check a flist or link name being created (with or without its `.flist` extension).
pub fn validate_flist_name(name: &str) -> Result<(), NameError> {
    check_name(NameKind::Flist, name)
}

/// Check a tag name being created.
pub fn validate_tag_name(name: &str) -> Result<(), NameError> {
    check_name(NameKind::Tag, name)
}

/// The one rule shared by every kind of name; every route that creates a name goes through one
/// of the `validate_*` functions above.
///
/// Beyond §3.5 (length, no control characters, `/`, `\`, NUL, no leading `.`), the characters
/// that start HTML markup or attributes are refused too: names end up in web pages and D2 was a
/// stored XSS through names. No existing client creates names with them. So are invisible and
/// bidirectional formatting characters ([`is_hidden_character`]): `evil\u{202E}gpj.exe.flist`
/// displays as `evilexe.jpg.flist`.
fn check_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    const FORBIDDEN: &[char] = &['/', '\\', '<', '>', '"', '\'', '`', '&'];
    let acceptable = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        // `.` and `..` are covered: they start with a dot. A leading dot is also how tags are
        // stored (`.tag-<name>`), so it must never come from a user.
        && !name.starts_with('.')
        // `char::is_control` covers NUL, the rest of C0, DEL and C1.
        && !name.chars().any(|c| c.is_control() || FORBIDDEN.contains(&c));
    if !acceptable {
        return Err(NameError::plain(kind));
    }
    if let Some(character) = name.chars().find(|c| is_hidden_character(*c)) {
        return Err(NameError::HiddenCharacter { kind, character });
    }
    Ok(())
}

/// Characters a name may not hold because a reader cannot see them or they reorder the text
/// around them:
///
/// * every format character (general category `Cf`): the bidirectional controls U+202A–U+202E,
///   U+2066–U+2069, U+200E, U+200F, U+061C, the zero-width U+200B–U+200D, U+2060, U+FEFF, the
///   soft hyphen, invisible operators, tag characters…;
/// * the line and paragraph separators U+2028 and U+2029 (`Zl`, `Zp`), which break lines in
///   listings and logs like a newline does;
/// * the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, letters that render as blank space.
///
/// Control characters (`Cc`) are refused by the §3.5 rule itself.
pub fn is_hidden_character(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

/// Werkzeug's `secure_filename`, as the original hub applied it to uploaded file names (§3.2):
/// NFKD then ASCII only, `/` and `\` to spaces, whitespace runs to `_`, only `[A-Za-z0-9_.-]`
/// kept, leading and trailing `.` and `_` stripped. The result may be empty.
pub fn secure_filename(filename: &str) -> String {
    let ascii: String = filename
        .nfkd()
        .filter(char::is_ascii)
        .map(|c| if c == '/' || c == '\\' { ' ' } else { c })
        .collect();
    // Python's `str.split()` also treats the ASCII information separators 0x1c..0x1f as
    // whitespace, unlike Rust's `char::is_ascii_whitespace`.
    let joined = ascii
        .split(|c: char| c.is_ascii_whitespace() || c == '\x0b' || ('\x1c'..='\x1f').contains(&c))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let kept: String = joined
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .collect();
    kept.trim_matches(|c| c == '.' || c == '_').to_owned()
}

/// Which upload route a file came through; they accept different extensions (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// `POST /api/flist/me/upload`: a `.tar.gz` (new: or `.tgz`) archive to convert.
    Archive,
    /// `POST /api/flist/me/upload-flist`: a ready-made `.flist`.
    Flist,
}

/// Whether the raw client file name (before any sanitising, case-sensitive) has an extension the
/// route accepts (§3.2 step 1). The gateway answers `this file is not allowed` otherwise.
pub fn is_allowed_upload_filename(kind: UploadKind, client_filename: &str) -> bool {
    match kind {
        UploadKind::Archive => {
            client_filename.ends_with(".tar.gz") || client_filename.ends_with(".tgz")
        }
        UploadKind::Flist => client_filename.ends_with(".flist"),
    }
}

/// The name an uploaded file is published under (§3.2 steps 2–5): `secure_filename` of the
/// client file name, replaced by the basename of `X-Original-Name` when the API request carries
/// one, minus `.tar.gz` (and `.tgz` for archives), plus `.flist`.
///
/// new: the result is validated (§3.5) because the header is not sanitised; an unusable name is
/// [`NameError::Flist`].
pub fn upload_flist_name(
    kind: UploadKind,
    client_filename: &str,
    original_name: Option<&str>,
) -> Result<String, NameError> {
    let name = match original_name {
        // zflist sends the full local path; like Python's `os.path.basename` only `/` separates.
        Some(header) => header.rsplit('/').next().unwrap_or_default().to_owned(),
        None => secure_filename(client_filename),
    };
    let stem = strip_archive_suffix(kind, &name);
    let flist = with_flist_extension(stem).into_owned();
    validate_flist_name(&flist)?;
    Ok(flist)
}

fn strip_archive_suffix(kind: UploadKind, name: &str) -> &str {
    if let Some(stem) = name.strip_suffix(".tar.gz") {
        return stem;
    }
    match (kind, name.strip_suffix(".tgz")) {
        (UploadKind::Archive, Some(stem)) => stem,
        _ => name,
    }
}

/// Append `.flist` unless the name already ends with it (§3.1).
pub fn with_flist_extension(name: &str) -> Cow<'_, str> {
    if name.ends_with(".flist") {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{name}.flist"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "alice.3bot",
            "tf-official-apps",
            "zos:v3.4.0.flist",
            "base:latest",
            "a_b@c-d",
            "ünïcode",
        ] {
            assert_eq!(validate_repository_name(name), Ok(()), "{name}");
            assert_eq!(validate_flist_name(name), Ok(()), "{name}");
            assert_eq!(validate_tag_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn traversal_separators_nul_and_control_characters_are_rejected() {
        let bad = [
            "",
            ".",
            "..",
            "../etc",
            ".hidden",
            ".tag-v1",
            "a/b",
            "a\\b",
            "/",
            "a\0b",
            "new\nline",
            "tab\there",
            "bell\x07",
            "del\x7f",
            "c1\u{85}",
        ];
        for name in bad {
            assert_eq!(
                validate_repository_name(name),
                Err(NameError::Repository),
                "{name:?}"
            );
            assert_eq!(validate_flist_name(name), Err(NameError::Flist), "{name:?}");
            assert_eq!(validate_tag_name(name), Err(NameError::Tag), "{name:?}");
        }
    }

    #[test]
    fn html_is_rejected() {
        for name in [
            "<script>alert(1)</script>",
            "a\"onmouseover=x",
            "it's",
            "x&amp;",
            "`cmd`",
        ] {
            assert!(validate_flist_name(name).is_err(), "{name}");
            assert!(validate_repository_name(name).is_err(), "{name}");
        }
    }

    #[test]
    fn length_limit_is_in_bytes() {
        let ok = "a".repeat(MAX_NAME_BYTES);
        assert_eq!(validate_flist_name(&ok), Ok(()));
        assert!(validate_flist_name(&"a".repeat(MAX_NAME_BYTES + 1)).is_err());
        // 128 two-byte characters = 256 bytes.
        assert!(validate_flist_name(&"é".repeat(128)).is_err());
    }

    #[test]
    fn reserved_names_are_only_refused_for_repositories() {
        for name in RESERVED_REPOSITORY_NAMES {
            assert_eq!(validate_repository_name(name), Err(NameError::Repository));
            assert_eq!(validate_flist_name(name), Ok(()));
        }
        assert_eq!(validate_repository_name("Me"), Ok(()));
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_named_in_the_error() {
        let err = validate_flist_name("evil\u{202E}gpj.exe.flist").expect_err("RLO");
        assert_eq!(
            err,
            NameError::HiddenCharacter {
                kind: NameKind::Flist,
                character: '\u{202E}'
            }
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message(),
            "invalid flist name: U+202E is an invisible or bidirectional formatting character"
        );
        // One of each family; the property tests cover the whole list of hidden characters.
        for c in ['\u{2066}', '\u{200B}', '\u{FEFF}', '\u{2028}', '\u{3164}'] {
            let name = format!("a{c}b");
            assert!(is_hidden_character(c), "{c:?}");
            assert_eq!(
                validate_tag_name(&name),
                Err(NameError::HiddenCharacter {
                    kind: NameKind::Tag,
                    character: c
                })
            );
            let err = validate_repository_name(&name).expect_err("repository");
            assert!(
                err.message().starts_with("invalid repository name: U+"),
                "{err}"
            );
        }
        // Visible non-ASCII text stays acceptable.
        for c in ['é', '日', 'ß', '😀', '\u{00A0}'] {
            assert!(!is_hidden_character(c), "{c:?}");
        }
    }

    #[test]
    fn errors_carry_catalogue_messages() {
        assert_eq!(NameError::Repository.message(), "invalid repository name");
        assert_eq!(NameError::Flist.to_string(), "invalid flist name");
        assert_eq!(NameError::Tag.message(), "invalid tag name");
        assert_eq!(NameError::Tag.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn secure_filename_matches_werkzeug() {
        let cases = [
            ("My cool app.tar.gz", "My_cool_app.tar.gz"),
            ("../../etc/x.tar.gz", "etc_x.tar.gz"),
            ("..\\..\\win\\x.tar.gz", "win_x.tar.gz"),
            (
                "i contain cool \u{fc}ml\u{e4}uts.txt",
                "i_contain_cool_umlauts.txt",
            ),
            ("  spaces\t\nand\x1ctabs  ", "spaces_and_tabs"),
            ("__.hidden._", "hidden"),
            ("a<b>c\"d.flist", "abcd.flist"),
            ("\u{2460}.flist", "1.flist"),
            ("...", ""),
            ("日本語", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(secure_filename(input), expected, "{input:?}");
        }
    }

    #[test]
    fn upload_names_follow_the_steps() {
        let name = |kind, file, header| upload_flist_name(kind, file, header);
        assert_eq!(
            name(UploadKind::Archive, "My cool app.tar.gz", None).as_deref(),
            Ok("My_cool_app.flist")
        );
        assert_eq!(
            name(
                UploadKind::Archive,
                "x.tar.gz",
                Some("/home/me/build/my-app-1.0.tar.gz")
            )
            .as_deref(),
            Ok("my-app-1.0.flist")
        );
        assert_eq!(
            name(UploadKind::Archive, "app.tgz", None).as_deref(),
            Ok("app.flist")
        );
        // `.tgz` is only an archive extension; `.tar.gz` is removed for both kinds.
        assert_eq!(
            name(UploadKind::Flist, "x.flist", Some("odd.tgz")).as_deref(),
            Ok("odd.tgz.flist")
        );
        assert_eq!(
            name(UploadKind::Flist, "base.flist", None).as_deref(),
            Ok("base.flist")
        );
        assert_eq!(
            name(UploadKind::Flist, "x.flist", Some("a.tar.gz")).as_deref(),
            Ok("a.flist")
        );
    }

    #[test]
    fn unusable_upload_names_are_refused() {
        let refused = [
            (UploadKind::Archive, "x.tar.gz", Some("/tmp/")),
            (UploadKind::Archive, "x.tar.gz", Some("..")),
            (UploadKind::Archive, "x.tar.gz", Some("/tmp/<b>.tar.gz")),
            (UploadKind::Archive, "x.tar.gz", Some("a\\..\\b.tar.gz")),
            (UploadKind::Archive, "_._", None),
            (UploadKind::Flist, "日本語", None),
        ];
        for (kind, file, header) in refused {
            assert_eq!(
                upload_flist_name(kind, file, header),
                Err(NameError::Flist),
                "{file:?} {header:?}"
            );
        }
    }

    #[test]
    fn upload_extension_check_uses_the_raw_name() {
        assert!(is_allowed_upload_filename(UploadKind::Archive, "a.tar.gz"));
        assert!(is_allowed_upload_filename(UploadKind::Archive, "a.tgz"));
        assert!(!is_allowed_upload_filename(UploadKind::Archive, "a.TAR.GZ"));
        assert!(!is_allowed_upload_filename(UploadKind::Archive, "a.flist"));
        assert!(is_allowed_upload_filename(UploadKind::Flist, "a.flist"));
        assert!(!is_allowed_upload_filename(UploadKind::Flist, "a.tar.gz"));
    }

    #[test]
    fn flist_extension_is_appended_once() {
        assert_eq!(with_flist_extension("foo"), "foo.flist");
        assert_eq!(with_flist_extension("foo.flist"), "foo.flist");
    }
}
