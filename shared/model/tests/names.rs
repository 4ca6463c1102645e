//! Property tests of the name rules, which see unauthenticated input.

use hub_model::Format;
use hub_model::names::{
    UploadKind, created_flist_name, secure_filename, upload_stem, validate_flist_name,
    validate_repository_name, validate_tag_name,
};
use proptest::prelude::*;

/// Bidirectional controls, zero-width and other invisible characters (general category `Cf`,
/// line and paragraph separators, Hangul fillers): a name holding any of them is refused.
const HIDDEN: &[char] = &[
    '\u{202A}',
    '\u{202B}',
    '\u{202C}',
    '\u{202D}',
    '\u{202E}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{200E}',
    '\u{200F}',
    '\u{061C}',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{180E}',
    '\u{2061}',
    '\u{2064}',
    '\u{206A}',
    '\u{206F}',
    '\u{FFF9}',
    '\u{FFFB}',
    '\u{0600}',
    '\u{E0001}',
    '\u{E0041}',
    '\u{1D173}',
    '\u{2028}',
    '\u{2029}',
    '\u{3164}',
    '\u{115F}',
    '\u{1160}',
    '\u{FFA0}',
];

proptest! {
    #[test]
    fn names_with_hidden_characters_are_always_refused(
        prefix in "[a-z0-9:@._-]{0,20}",
        hidden in proptest::sample::select(HIDDEN),
        suffix in "[a-z0-9:@._-]{0,20}",
    ) {
        let name = format!("a{prefix}{hidden}{suffix}");
        prop_assert!(validate_flist_name(&name).is_err(), "{:?}", name);
        prop_assert!(validate_tag_name(&name).is_err(), "{:?}", name);
        prop_assert!(validate_repository_name(&name).is_err(), "{:?}", name);
    }

    #[test]
    fn accepted_names_have_no_format_or_control_characters(name in any::<String>()) {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
        if validate_flist_name(&name).is_ok() {
            prop_assert!(!name.chars().any(|c| matches!(
                c.general_category(),
                GeneralCategory::Format
                    | GeneralCategory::Control
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            )));
        }
    }

    #[test]
    fn secure_filename_output_is_always_safe(input in any::<String>()) {
        let name = secure_filename(&input);
        prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        prop_assert!(!name.starts_with(['.', '_']) && !name.ends_with(['.', '_']));
        // Idempotent: a secured name is already secure.
        prop_assert_eq!(secure_filename(&name), name);
    }

    #[test]
    fn upload_names_are_valid_flist_names(
        file in any::<String>(),
        header in proptest::option::of(any::<String>()),
        flist in any::<bool>(),
    ) {
        let kind = if flist { UploadKind::Flist } else { UploadKind::Archive };
        if let Ok(stem) = upload_stem(kind, &file, header.as_deref()) {
            for format in Format::ALL {
                let name = format.file_name(&stem);
                prop_assert!(validate_flist_name(&name).is_ok(), "{:?}", name);
            }
            prop_assert!(!stem.contains('/') && !stem.starts_with('.'));
        }
    }

    #[test]
    fn uploads_of_archives_with_plain_names_keep_their_stem(stem in "[A-Za-z0-9][A-Za-z0-9_-]{0,40}") {
        for suffix in hub_model::names::ARCHIVE_SUFFIXES {
            let file = format!("{stem}{suffix}");
            prop_assert_eq!(upload_stem(UploadKind::Archive, &file, None), Ok(stem.clone()));
        }
    }

    #[test]
    fn created_flist_names_are_valid_and_end_in_an_extension(name in any::<String>()) {
        if let Ok(created) = created_flist_name(&name) {
            prop_assert!(validate_flist_name(&created).is_ok());
            prop_assert!(Format::from_name(&created).is_some(), "{:?}", created);
        }
    }

    #[test]
    fn accepted_names_never_traverse(name in any::<String>()) {
        if validate_repository_name(&name).is_ok() {
            prop_assert!(!name.contains('/') && !name.contains('\\') && !name.contains('\0'));
            prop_assert!(!name.starts_with('.'));
            prop_assert!(!name.chars().any(char::is_control));
        }
    }
}
