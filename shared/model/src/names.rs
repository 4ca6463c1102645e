//! Name rules: validation of created names (1–255 bytes, no control characters, `/`, `\` or
//! NUL, no leading dot), Werkzeug's `secure_filename` (which the original hub applied to the
//! client's file name), the name an upload is published under and the name of a converted
//! image. The rules are those of the hub's HTTP contract (hub-api §3: Names).
//!
//! The gateway and hub-auth call these before creating anything; names that only *read*
//! existing entries are looked up exactly as stored and must not go through the validators (old
//! hubs contain names created without validation). Errors are typed; the gateway maps them to
//! HTTP answers.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use crate::Format;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// Longest accepted name, in bytes of UTF-8 (hub-api §3.5: a created name is 1–255 bytes).
pub const MAX_NAME_BYTES: usize = 255;

/// Names that cannot be repositories: static routes (`/upload`, `/login`, `/api`, …) win over
/// `/<repo>`, so such a repository page could never be reached, and `me` is the authenticated
/// API's own prefix (hub-api §3.4: reserved names and routing precedence).
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

/// A created name broke the name rules (length, forbidden characters, leading dot, reserved
/// repository names). Each variant renders the API message.
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
    /// The message for the client: the exact message clients already match on (hub-api §14:
    /// error message catalogue), followed by what is wrong for [`NameError::HiddenCharacter`].
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

/// Check a repository name being created: the common rules plus
/// [`RESERVED_REPOSITORY_NAMES`].
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
/// Beyond the contract's rules (length, no control characters, `/`, `\`, NUL, no leading `.`),
/// the characters that start HTML markup or attributes are refused too: names end up in web
/// pages, and the original hub had a stored XSS through names (its known defect D2). No
/// existing client creates names with them. So are invisible and bidirectional formatting
/// characters ([`is_hidden_character`]): `evil\u{202E}gpj.exe.flist` displays as
/// `evilexe.jpg.flist`.
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
/// Control characters (`Cc`) are refused by the contract's own rule, before this one.
pub fn is_hidden_character(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

/// Werkzeug's `secure_filename`, as the original hub applied it to uploaded file names:
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

/// Which upload route a file came through; they accept different extensions (archives, or
/// `.flist`/`.fl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// `POST /api/flist/me/upload`: an archive to convert.
    Archive,
    /// `POST /api/flist/me/upload-flist`: a ready-made `.flist` or `.fl`.
    Flist,
}

/// Archive extensions the upload route accepts (the converter detects the compression from the
/// content; the name only has to look like an archive). Tried in this order when stripped.
pub const ARCHIVE_SUFFIXES: &[&str] =
    &[".tar.bz2", ".tar.zst", ".tar.gz", ".tar.xz", ".tgz", ".tar"];

/// Why an uploaded file cannot be published under a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadNameError {
    /// The form's file part has no file name.
    #[error("no file selected")]
    NoFile,
    /// The client's file name does not have an extension the route accepts.
    #[error("this file is not allowed")]
    NotAllowed,
    /// The derived name breaks the name rules.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// The name an uploaded file is published under, without its extension, derived as the
/// original hub did (hub-api §3.2: upload names):
///
/// 1. the raw client file name (case-sensitive) must have an extension `kind` accepts;
/// 2. the name is `secure_filename` of the client file name, or the basename of
///    `X-Original-Name` when the API request carries one (zflist sends a full local path);
/// 3. the archive extension (for a flist upload: `.tar.gz`, as the original did), then a
///    `.flist` or `.fl` extension are removed;
/// 4. the result, with `.flist` appended as it will be published, must be a valid flist name
///    (the header is not sanitised).
pub fn upload_stem(
    kind: UploadKind,
    client_filename: &str,
    original_name: Option<&str>,
) -> Result<String, UploadNameError> {
    if client_filename.is_empty() {
        return Err(UploadNameError::NoFile);
    }
    let allowed = match kind {
        UploadKind::Archive => ARCHIVE_SUFFIXES
            .iter()
            .any(|suffix| client_filename.ends_with(suffix)),
        UploadKind::Flist => Format::of_suffix(client_filename).is_some(),
    };
    if !allowed {
        return Err(UploadNameError::NotAllowed);
    }
    let base = match original_name {
        // Like Python's `os.path.basename`, only `/` separates.
        Some(header) => header.rsplit('/').next().unwrap_or_default().to_owned(),
        None => secure_filename(client_filename),
    };
    let stem = match kind {
        UploadKind::Archive => ARCHIVE_SUFFIXES
            .iter()
            .find_map(|suffix| base.strip_suffix(suffix))
            .unwrap_or(&base),
        UploadKind::Flist => base.strip_suffix(".tar.gz").unwrap_or(&base),
    };
    let stem = Format::strip_extension(stem);
    // Validated with the extension, as it will be published.
    validate_flist_name(&Format::Flist.file_name(stem))?;
    Ok(stem.to_owned())
}

/// The format of an uploaded homemade flist: the one its client file name's extension says
/// (it is published unchanged), `.flist` when it says none.
pub fn uploaded_flist_format(client_filename: &str) -> Format {
    Format::of_suffix(client_filename).unwrap_or(Format::Flist)
}

/// An entry name as given in a URL: `.flist` appended unless the name already ends with
/// `.flist` or `.fl`, so that callers may write `foo` or `foo.flist` (hub-api §3.1: flist name
/// normalisation; `.fl` is this hub's second format).
pub fn flist_name(name: &str) -> Cow<'_, str> {
    if Format::of_suffix(name).is_some() {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(Format::Flist.file_name(name))
    }
}

/// A flist or link name about to be created, normalised like [`flist_name`] and validated
/// before and after (an added extension can make it too long).
pub fn created_flist_name(name: &str) -> Result<String, NameError> {
    validate_flist_name(name)?;
    let name = flist_name(name).into_owned();
    validate_flist_name(&name)?;
    Ok(name)
}

/// True when an image reference names neither a tag nor a digest (so it means `:latest`): its
/// last path component has no `:` (a `:` before the last `/` is a registry port) and it has no
/// `@`.
pub fn image_needs_latest(reference: &str) -> bool {
    if reference.contains('@') {
        return false;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    !last.contains(':')
}

/// The flist name of an image reference, as the original hub named converted images:
/// `:latest` appended when the reference
/// names no tag and no digest, then every `:`, `/` and `@` replaced by `-`, plus the format's
/// extension.
///
/// `ubuntu:20.04` → `ubuntu-20.04.flist`, `threefoldtech/funk` →
/// `threefoldtech-funk-latest.flist`, `registry:5000/img` → `registry-5000-img-latest.flist`,
/// `img@sha256:ab…` → `img-sha256-ab….flist`. The name is derived from the reference as
/// given (not normalised), so existing names stay what the original hub produced.
pub fn image_flist_name(reference: &str, format: Format) -> String {
    let reference = reference.trim();
    let mut name: String = reference
        .chars()
        .map(|c| if matches!(c, ':' | '/' | '@') { '-' } else { c })
        .collect();
    if image_needs_latest(reference) {
        name.push_str("-latest");
    }
    format.file_name(&name)
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

    fn stem(kind: UploadKind, client: &str, header: Option<&str>) -> Result<String, String> {
        upload_stem(kind, client, header).map_err(|error| error.to_string())
    }

    #[test]
    fn upload_names_follow_the_original_rules() {
        use UploadKind::{Archive, Flist};
        assert_eq!(
            stem(Archive, "My cool app.tar.gz", None),
            Ok("My_cool_app".into())
        );
        assert_eq!(
            stem(Archive, "../../etc/x.tar.gz", None),
            Ok("etc_x".into())
        );
        assert_eq!(
            stem(
                Archive,
                "a.tar.gz",
                Some("/home/me/build/my-app-1.0.tar.gz")
            ),
            Ok("my-app-1.0".into())
        );
        assert_eq!(stem(Archive, "a.tgz", None), Ok("a".into()));
        assert_eq!(stem(Archive, "a.tar.zst", None), Ok("a".into()));
        assert_eq!(stem(Archive, "a.tar", None), Ok("a".into()));
        assert_eq!(stem(Flist, "x.flist", None), Ok("x".into()));
        assert_eq!(stem(Flist, "x.fl", None), Ok("x".into()));
        // `.tgz` is only an archive extension; `.tar.gz` is removed for both kinds.
        assert_eq!(
            stem(Flist, "x.flist", Some("odd.tgz")),
            Ok("odd.tgz".into())
        );
        assert_eq!(stem(Flist, "x.flist", Some("a.tar.gz")), Ok("a".into()));
        assert_eq!(uploaded_flist_format("x.fl"), Format::Fl);
        assert_eq!(uploaded_flist_format("x.flist"), Format::Flist);
    }

    #[test]
    fn bad_uploads_get_the_catalogue_messages() {
        use UploadKind::{Archive, Flist};
        assert_eq!(stem(Archive, "", None), Err("no file selected".into()));
        assert_eq!(
            stem(Archive, "a.zip", None),
            Err("this file is not allowed".into())
        );
        // The raw client name decides, case-sensitively.
        assert_eq!(
            stem(Archive, "a.TAR.GZ", None),
            Err("this file is not allowed".into())
        );
        assert_eq!(
            stem(Flist, "a.tar.gz", None),
            Err("this file is not allowed".into())
        );
        // secure_filename strips the leading dot, as Werkzeug does.
        assert_eq!(stem(Archive, ".tar.gz", None), Ok("tar.gz".into()));
        for header in [
            "/tmp/.tar.gz",
            "/tmp/<script>.tar.gz",
            "/tmp/",
            "..",
            "a\\..\\b.tar.gz",
        ] {
            assert_eq!(
                stem(Archive, "a.tar.gz", Some(header)),
                Err("invalid flist name".into()),
                "{header}"
            );
        }
    }

    #[test]
    fn url_names_get_the_flist_extension_unless_present() {
        assert_eq!(flist_name("zos:v3.4.0"), "zos:v3.4.0.flist");
        assert_eq!(flist_name("base.flist"), "base.flist");
        assert_eq!(flist_name("rfs.fl"), "rfs.fl");
        assert_eq!(flist_name("a.flist.md5"), "a.flist.md5.flist");
        assert_eq!(created_flist_name("app").as_deref(), Ok("app.flist"));
        assert_eq!(created_flist_name("x@1:2").as_deref(), Ok("x@1:2.flist"));
        for bad in ["..", ".hidden", "a/b", "a\0b", "<b>", ""] {
            assert_eq!(created_flist_name(bad), Err(NameError::Flist), "{bad}");
        }
        // 251 bytes pass alone, but not with `.flist` appended (257 bytes).
        assert!(created_flist_name(&"a".repeat(251)).is_err());
    }

    #[test]
    fn image_names_of_spec_3_3() {
        let f = Format::Flist;
        assert_eq!(image_flist_name("ubuntu:20.04", f), "ubuntu-20.04.flist");
        assert_eq!(
            image_flist_name("threefoldtech/funk", f),
            "threefoldtech-funk-latest.flist"
        );
        assert_eq!(image_flist_name("user/app:1.2", f), "user-app-1.2.flist");
        assert_eq!(
            image_flist_name("registry:5000/img", f),
            "registry-5000-img-latest.flist"
        );
        assert_eq!(
            image_flist_name("registry:5000/img:2", f),
            "registry-5000-img-2.flist"
        );
        assert_eq!(
            image_flist_name("img@sha256:abcd", f),
            "img-sha256-abcd.flist"
        );
        assert_eq!(
            image_flist_name("img:1@sha256:abcd", Format::Fl),
            "img-1-sha256-abcd.fl"
        );
        assert_eq!(image_flist_name(" ubuntu ", Format::Fl), "ubuntu-latest.fl");
    }
}
