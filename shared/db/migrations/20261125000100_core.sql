-- Core schema of the hub: repositories and their entries, tags, flists, jobs and job events.
--
-- Names use the "C" collation so that listings sort by byte value (= code point order), as the
-- original hub's Python `sorted()` did, whatever the database's default locale is.

-- Repositories ("users" in the original API).
CREATE TABLE repositories (
    name        text COLLATE "C" PRIMARY KEY,
    -- Mirrors the configured `official-repositories` list (spec 6.2).
    official    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Advances on every change of an entry or a tag of the repository (spec 6.2); mirrors poll it.
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Flist files. The bytes live in the shared object store under `content_hash`; a row is never
-- updated, so two entries publishing the same bytes share one row.
CREATE TABLE flists (
    id           bigserial   PRIMARY KEY,
    -- Object id of the bytes in the store (content address).
    content_hash text        NOT NULL UNIQUE,
    -- Hex MD5 of the bytes, served by `.md5` and `/light` (computed once, at write time).
    md5          text        NOT NULL CHECK (md5 ~ '^[0-9a-f]{32}$'),
    size         bigint      NOT NULL CHECK (size >= 0),
    format       text        NOT NULL CHECK (format IN ('flist', 'fl')),
    -- {regular, symlink, directory, special, failure, fullsize}
    stats        jsonb       NOT NULL,
    -- The flist's metadata table (readme, backend, entrypoint, …).
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The contents dump of spec 6.6 as the exact JSON body, so no request unpacks the flist.
    dump         bytea,
    -- What the flist was built from (upload name, image reference and digest, merge sources…).
    source       jsonb,
    -- Idempotency key of the conversion that produced it (source digest + options + format).
    source_key   text,
    creator      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flists_source_key ON flists (source_key) WHERE source_key IS NOT NULL;

-- Named entries of a repository: flists, symlinks (same or other repository) and taglinks.
CREATE TABLE entries (
    repository        text COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    name              text COLLATE "C" NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('regular', 'symlink', 'taglink')),
    -- regular: the flist.
    flist_id          bigint      REFERENCES flists (id),
    -- symlink: an entry name in a repository; taglink: a repository and a tag name.
    -- Deliberately no foreign key: pointers may dangle (spec 7.2, 7.5).
    target_repository text COLLATE "C",
    target_name       text COLLATE "C",
    -- The original's raw link text ("foo.flist", "../repo/foo.flist"), served by `/light`.
    raw_target        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- mtime of the entry (a pointer's "linktime").
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, name),
    CHECK ((kind = 'regular') = (flist_id IS NOT NULL)),
    CHECK (kind = 'regular' OR (target_repository IS NOT NULL AND target_name IS NOT NULL)),
    CHECK (kind <> 'regular' OR (target_repository IS NULL AND target_name IS NULL))
);
-- Pointer resolution looks entries up by their target.
CREATE INDEX entries_flist ON entries (flist_id) WHERE flist_id IS NOT NULL;

-- Tags: named sets of pointers inside a repository. A tag exists while it has entries.
CREATE TABLE tags (
    repository text COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
    name       text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, name)
);

CREATE TABLE tag_entries (
    repository        text COLLATE "C" NOT NULL,
    tag               text COLLATE "C" NOT NULL,
    name              text COLLATE "C" NOT NULL,
    -- An entry name in any repository; may dangle (spec 7.5).
    target_repository text COLLATE "C" NOT NULL,
    target_name       text COLLATE "C" NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, tag, name),
    FOREIGN KEY (repository, tag) REFERENCES tags (repository, name) ON DELETE CASCADE
);

-- Jobs. State machine: queued -> running -> succeeded | failed | cancelled, running -> queued on
-- retry or re-queue. Every status write bumps `revision` and is guarded by it (or by the state),
-- so a late or duplicated message can never move a job backwards; terminal states are final.
CREATE TABLE jobs (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('convert', 'docker', 'merge', 'verify')),
    owner           text        NOT NULL,
    repository      text        NOT NULL,
    target_name     text        NOT NULL,
    state           text        NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress        smallint    NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    phase           text,
    message         text,
    -- Number of times a worker claimed the job.
    attempt         integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts    integer     NOT NULL CHECK (max_attempts >= 1),
    -- The encoded protobuf `JobEnvelope`, so the janitor can publish the job again.
    payload         bytea       NOT NULL,
    result          jsonb,
    -- {code, message} of the failure (or of the last transient error while retrying).
    error           jsonb,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    heartbeat_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    revision        bigint      NOT NULL DEFAULT 0,
    -- Sequence number of the last row in job_events (allocated under the job's row lock).
    last_event_seq  bigint      NOT NULL DEFAULT 0,
    CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
-- A retried submit with the same Idempotency-Key returns the same job.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Keyset pagination of a user's jobs and of all jobs (newest first).
CREATE INDEX jobs_owner_created ON jobs (owner, created_at DESC, id DESC);
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
-- Janitor: running jobs by heartbeat, queued jobs by last change, finished jobs by age.
CREATE INDEX jobs_running_heartbeat ON jobs (heartbeat_at) WHERE state = 'running';
CREATE INDEX jobs_queued_updated ON jobs (updated_at) WHERE state = 'queued';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- Ordered event log of a job (progress, info, error, state changes), replayed by listeners.
CREATE TABLE job_events (
    job_id     uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        bigint      NOT NULL CHECK (seq >= 1),
    created_at timestamptz NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('state', 'update', 'info', 'error')),
    -- For 'state' events: the state entered.
    state      text,
    message    text,
    progress   smallint,
    phase      text,
    data       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (job_id, seq)
);
