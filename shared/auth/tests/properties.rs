//! Property tests of the parsers that see unauthenticated input.

use hub_auth::hub_token::HubTokenKey;
use hub_auth::names::{
    UploadKind, secure_filename, upload_flist_name, validate_flist_name, validate_repository_name,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn secure_filename_output_is_always_safe(input in any::<String>()) {
        let name = secure_filename(&input);
        prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        prop_assert!(!name.starts_with(['.', '_']) && !name.ends_with(['.', '_']));
        // Idempotent: a secured name is already secure.
        prop_assert_eq!(secure_filename(&name), name);
    }

    #[test]
    fn upload_names_are_valid_flist_names(file in any::<String>(), header in proptest::option::of(any::<String>())) {
        if let Ok(name) = upload_flist_name(UploadKind::Archive, &file, header.as_deref()) {
            prop_assert!(name.ends_with(".flist"));
            prop_assert!(validate_flist_name(&name).is_ok());
            prop_assert!(!name.contains('/') && !name.starts_with('.'));
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

    #[test]
    fn hub_tokens_round_trip(user in "\\PC{1,40}", stamp in 0i64..4_000_000_000) {
        let key = HubTokenKey::from_seed(&[3u8; 32]);
        let claims = key.verify(&key.mint(&user, stamp)).expect("own token verifies");
        prop_assert_eq!(claims.user, user);
        prop_assert_eq!(claims.issued_at, stamp);
    }

    #[test]
    fn arbitrary_tokens_never_verify(token in any::<String>()) {
        let key = HubTokenKey::from_seed(&[3u8; 32]);
        prop_assert!(key.verify(&token).is_err());
    }
}
