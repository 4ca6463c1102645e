//! The authentication layer's tables (migration `20261125000200_auth.sql`): issued hub JWTs,
//! per-user revocation times, organisation memberships and local accounts. hub-auth decides
//! what they mean (hashing, validation, signing); this module only reads and writes them.

pub mod local_users;
pub mod org_members;
pub mod tokens;
