-- Authentication (crate hub-auth): issued hub JWTs, per-user revocation times, organisation
-- membership and local accounts. Every table is prefixed `auth_`. Names use the "C" collation
-- like the core schema, so listings sort by code point whatever the database locale.

-- JWTs minted by the hub. The token itself is never stored, only its id and lifetime, so that
-- each one can be listed and revoked.
CREATE TABLE auth_tokens (
    jti         uuid        PRIMARY KEY,
    username    text        COLLATE "C" NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK (expires_at > created_at)
);

CREATE INDEX auth_tokens_username_idx ON auth_tokens (username, created_at DESC);
CREATE INDEX auth_tokens_expires_at_idx ON auth_tokens (expires_at);

-- "Revoke everything": hub Ed25519 tokens carry only their user and time, so tokens of the user
-- stamped before this time are refused.
CREATE TABLE auth_user_revocations (
    username       text        COLLATE "C" PRIMARY KEY,
    revoked_before timestamptz NOT NULL
);

-- Who may act as an organisation's repository (replaces `threebot-users-map` and the
-- `user:memberof:<org>` scopes of itsyou.online).
CREATE TABLE auth_org_members (
    org      text        COLLATE "C" NOT NULL,
    username text        COLLATE "C" NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org, username)
);

CREATE INDEX auth_org_members_username_idx ON auth_org_members (username, org);

-- Accounts of self-hosted hubs that do not use ThreeFold Connect. `password_hash` is a PHC
-- string (argon2id).
CREATE TABLE auth_local_users (
    name          text        COLLATE "C" PRIMARY KEY,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
