-- Garbage collection of the chunk store (docs/gc.md).

-- Blocks writers are about to write or confirm in a store that cannot record a confirmation
-- itself (0-db), recorded before they touch the store. The collector keeps every block
-- touched within its grace window, and deletes a block only while it holds the block's row
-- locked (inserting the row if missing): a writer's touch then waits for the deletion and
-- finds the block gone.
CREATE TABLE block_journal (
    key        bytea       PRIMARY KEY,
    touched_at timestamptz NOT NULL
);

CREATE INDEX block_journal_touched_at_idx ON block_journal (touched_at);

-- One row per run of `hub-gateway gc` (dry runs write none), with the checkpoint a run
-- interrupted mid-sweep is resumed from.
CREATE TABLE gc_runs (
    id             bigserial   PRIMARY KEY,
    -- The store collected (password stripped): a checkpoint means nothing for another one.
    store          text        NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    cutoff         timestamptz NOT NULL,
    phase          text        NOT NULL CHECK (phase IN ('mark', 'sweep', 'done', 'resumed')),
    -- The store's listing cursor after which the sweep continues.
    cursor         bytea,
    resumed_from   bigint      REFERENCES gc_runs (id),
    blocks_scanned bigint      NOT NULL DEFAULT 0,
    freed_blocks   bigint      NOT NULL DEFAULT 0,
    freed_bytes    bigint      NOT NULL DEFAULT 0,
    checkpoint_at  timestamptz,
    finished_at    timestamptz
);

CREATE INDEX gc_runs_unfinished_idx ON gc_runs (store, started_at DESC) WHERE finished_at IS NULL;
