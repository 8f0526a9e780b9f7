-- The tlo_embed schema: the one place it is written.
--
-- tools/gen_schema.py embeds this file in tlo_embed/store/_schema.py (a test fails when the two
-- differ). The file's `application_id` and `user_version` pragmas are set by
-- tlo_embed/store/migrate.py, not here. Schema version: 1.
--
-- Conventions:
--   * seq          a turn's global sequence number (1, 2, ...); one turn = one transaction.
--   * branch       every turn, event and projection row belongs to a branch; `main` always exists.
--   * times        INTEGER microseconds since the Unix epoch, UTC, taken from the turn.
--   * payloads     opaque BLOBs shaped by tlo_embed/codec; `enc` says how (0 CBOR, 1 zlib CBOR).
--
-- Journal tables (turns, events) are history: rows are only ever inserted. Every other table
-- is either a projection (rebuilt by folding the journal; `tlo check` proves they agree) or
-- consumer bookkeeping (subscription cursors, snapshots), which the comment on each says.
-- The journal's own projections (branch heads, stream versions) are kept by triggers, so they
-- change in the same statement as the journal row that causes them, and `tlo check` rebuilds
-- them by inserting the journal into a scratch database with this same schema.

-- Branches: named refs into the tree of turns. A branch's history is its own turns up to
-- head_seq plus its parent's history up to fork_seq. Projection of the journal.
CREATE TABLE branches (
    name        TEXT PRIMARY KEY,
    parent      TEXT REFERENCES branches (name),
    fork_seq    INTEGER NOT NULL DEFAULT 0,
    head_seq    INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO branches (name) VALUES ('main');

-- Turns: one row per committed write transaction.
CREATE TABLE turns (
    seq             INTEGER PRIMARY KEY,
    branch          TEXT NOT NULL,
    parent_seq      INTEGER NOT NULL,       -- the branch head before this turn (0: none)
    recorded_at     INTEGER NOT NULL,
    correlation_id  TEXT,
    causation_id    TEXT,
    idempotency_key TEXT
) STRICT;

CREATE INDEX turns_by_idempotency_key ON turns (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- A new turn becomes its branch's head.
CREATE TRIGGER turns_advance_branch AFTER INSERT ON turns BEGIN
    UPDATE branches SET head_seq = NEW.seq WHERE name = NEW.branch;
END;

-- Events: the journal entries of each turn, in order (idx 0, 1, ...).
CREATE TABLE events (
    seq            INTEGER NOT NULL,
    idx            INTEGER NOT NULL,
    branch         TEXT NOT NULL,
    stream         TEXT NOT NULL,
    version        INTEGER NOT NULL,       -- position in the stream: 1, 2, ...
    type           TEXT NOT NULL,
    schema_version INTEGER NOT NULL,       -- version of the event's data shape (upcasting)
    id             BLOB NOT NULL,          -- 16-byte UUID (v7 unless the caller gave one)
    data           BLOB NOT NULL,
    enc            INTEGER NOT NULL,
    metadata       BLOB,                   -- CBOR map or NULL
    recorded_at    INTEGER NOT NULL,       -- the turn's recorded_at, copied so reads need no join
    PRIMARY KEY (seq, idx)
) STRICT, WITHOUT ROWID;

-- One version per stream per branch: the safety net under optimistic concurrency.
CREATE UNIQUE INDEX events_by_stream ON events (branch, stream, version);
CREATE INDEX events_by_id ON events (id);

-- Streams: the current version of each stream on each branch. Projection of the journal.
CREATE TABLE streams (
    branch   TEXT NOT NULL,
    stream   TEXT NOT NULL,
    version  INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (branch, stream)
) STRICT, WITHOUT ROWID;

-- A new event moves its stream's version.
CREATE TRIGGER events_advance_stream AFTER INSERT ON events BEGIN
    INSERT INTO streams (branch, stream, version, last_seq)
        VALUES (NEW.branch, NEW.stream, NEW.version, NEW.seq)
        ON CONFLICT (branch, stream) DO UPDATE
        SET version = excluded.version, last_seq = excluded.last_seq;
END;

-- Subscriptions: durable cursors of named consumers. Consumer bookkeeping, not history: a
-- cursor moves in the same transaction as the consumer's own writes (exactly-once projections).
CREATE TABLE subscriptions (
    branch        TEXT NOT NULL,
    name          TEXT NOT NULL,
    position      INTEGER NOT NULL,        -- last seq fully processed
    types         TEXT,                    -- newline-separated GLOB patterns, or NULL for all
    stream_prefix TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (branch, name)
) STRICT, WITHOUT ROWID;

-- Snapshots: folded handler state at a stream version. A cache over the journal (it can be
-- deleted at any time); `tlo check --handler` re-folds and compares.
CREATE TABLE snapshots (
    branch   TEXT NOT NULL,
    handler  TEXT NOT NULL,                -- handler name '@' handler version
    stream   TEXT NOT NULL,
    version  INTEGER NOT NULL,             -- stream version folded into the state
    seq      INTEGER NOT NULL,             -- seq of the last folded event
    state    BLOB NOT NULL,
    enc      INTEGER NOT NULL,
    PRIMARY KEY (branch, handler, stream, version)
) STRICT, WITHOUT ROWID;

-- Tasks: the registered task definitions. Projection of the `$tasks` stream.
CREATE TABLE tasks (
    branch        TEXT NOT NULL,
    name          TEXT NOT NULL,
    import_path   TEXT,                    -- module:qualname a worker imports, or NULL
    options       BLOB NOT NULL,           -- canonical CBOR map of the task's options
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (branch, name)
) STRICT, WITHOUT ROWID;

-- Jobs: one row per enqueued job, its current state. Projection of the `$job-<id>` streams.
-- state: pending | running | retrying | succeeded | failed | cancelled | blocked
CREATE TABLE jobs (
    branch        TEXT NOT NULL,
    id            TEXT NOT NULL,
    task          TEXT NOT NULL,
    queue         TEXT NOT NULL,
    state         TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    run_at        INTEGER NOT NULL,        -- not before this time (delay, retry backoff)
    attempts      INTEGER NOT NULL,        -- claims so far
    max_attempts  INTEGER NOT NULL,
    lease_until   INTEGER,                 -- while running: the claim expires then
    worker        TEXT,                    -- while running: who holds the lease
    dedup_key     TEXT,
    exclusive_key TEXT,
    waiting_on    INTEGER NOT NULL,        -- parents that have not succeeded yet
    payload       BLOB NOT NULL,           -- canonical CBOR
    result        BLOB,                    -- canonical CBOR of the last success
    error         TEXT,                    -- the last failure
    enqueued_at   INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    seq           INTEGER NOT NULL,        -- the turn that enqueued it (FIFO order)
    PRIMARY KEY (branch, id)
) STRICT, WITHOUT ROWID;

-- Claim order: priority (highest first), due time, enqueue order; only jobs whose parents
-- are done. Queues are filtered while walking it (workers usually serve few queues).
CREATE INDEX jobs_ready ON jobs (branch, priority DESC, run_at, seq)
    WHERE state IN ('pending', 'retrying') AND waiting_on = 0;
CREATE INDEX jobs_running ON jobs (branch, lease_until) WHERE state = 'running';
-- No index by state: job listings walk the branch's rows (SQLite chose that plan even when
-- there was one, whose only user was a count by state), and every transition would write it.
-- A dedup key is unique while its job is waiting or running.
CREATE UNIQUE INDEX jobs_dedup ON jobs (branch, dedup_key)
    WHERE dedup_key IS NOT NULL AND state IN ('pending', 'retrying', 'running');
CREATE INDEX jobs_exclusive ON jobs (branch, exclusive_key)
    WHERE exclusive_key IS NOT NULL AND state = 'running';

-- Job dependencies: `job` runs after `parent` succeeded. Projection of `$job-<id>` streams.
CREATE TABLE job_deps (
    branch TEXT NOT NULL,
    parent TEXT NOT NULL,
    job    TEXT NOT NULL,
    PRIMARY KEY (branch, parent, job)
) STRICT, WITHOUT ROWID;

-- Schedules: the next run of each interval or cron task. Projection of the `$scheduler`
-- stream (written by tlo_embed/tasks/scheduler.py, folded by tasks/projection.py).
CREATE TABLE schedules (
    branch      TEXT NOT NULL,
    task        TEXT NOT NULL,
    cron        TEXT,                      -- the cron expression, or NULL
    interval_us INTEGER,                   -- or the interval between runs
    catch_up    TEXT NOT NULL,             -- skip | once | all
    next_run    INTEGER NOT NULL,          -- the next due time
    last_run    INTEGER,                   -- the due time of the last job it enqueued
    last_job    TEXT,                      -- that job's id
    runs        INTEGER NOT NULL,          -- jobs it has enqueued
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (branch, task)
) STRICT, WITHOUT ROWID;

-- Leases: who holds a role only one process may play at a time (the scheduler), until when.
-- Projection of the `$scheduler` stream.
CREATE TABLE leases (
    branch      TEXT NOT NULL,
    name        TEXT NOT NULL,             -- the role: 'scheduler'
    holder      TEXT NOT NULL,
    since       INTEGER NOT NULL,          -- when the holder's unbroken tenure began
    lease_until INTEGER NOT NULL,          -- it lapses then unless renewed
    PRIMARY KEY (branch, name)
) STRICT, WITHOUT ROWID;

-- Plugins: installed WebAssembly components, one row per plugin per branch. Projection of the
-- `$plugins` stream (written by tlo_embed/plugins/host.py, folded by plugins/projection.py).
CREATE TABLE plugins (
    branch       TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,         -- 1 at install, +1 per upgrade
    sha256       TEXT NOT NULL,            -- the component, in plugin_blobs
    exports      BLOB NOT NULL,            -- canonical CBOR list of [name, WIT signature]
    requested    BLOB NOT NULL,            -- canonical CBOR list of capabilities it imports
    grants       BLOB NOT NULL,            -- canonical CBOR list of capabilities granted
    fuel         INTEGER NOT NULL,         -- per call
    memory       INTEGER NOT NULL,         -- bytes of linear memory per instance
    timeout      REAL NOT NULL,            -- seconds per call
    manifest     BLOB,                     -- canonical CBOR of the Lumen manifest, or NULL
    installed_at INTEGER NOT NULL,         -- when this version was installed
    PRIMARY KEY (branch, name)
) STRICT, WITHOUT ROWID;

-- Plugin key-value state (the kv host interface). Projection of the `$plugin-<name>` streams.
CREATE TABLE plugin_kv (
    branch TEXT NOT NULL,
    plugin TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (branch, plugin, key)
) STRICT, WITHOUT ROWID;

-- Plugin components by sha256. Content, not history: written once with the turn that first
-- installs it, referenced by the install events, never changed; `tlo check` does not compare it.
CREATE TABLE plugin_blobs (
    sha256    TEXT PRIMARY KEY,
    wasm      BLOB NOT NULL,
    stored_at INTEGER NOT NULL
) STRICT;

-- Precompiled components, a cache keyed by content and by what the compiled code depends on
-- (wasmtime version, machine, engine configuration). Can be deleted at any time.
CREATE TABLE plugin_artifacts (
    sha256     TEXT NOT NULL,
    engine     TEXT NOT NULL,
    artifact   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, engine)
) STRICT;

-- Facts about the file itself (creation time, creating library version).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY
) STRICT;
