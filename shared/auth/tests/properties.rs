//! Property tests of the parsers that see unauthenticated input (the name rules are tested in
//! hub-model, where they live).

use hub_auth::hub_token::HubTokenKey;
use proptest::prelude::*;

proptest! {
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
