//! Authentication: JWTs, the original hub's Ed25519 tokens, accounts
