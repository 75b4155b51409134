-- The server's data directory. Append-only once landed: later changes go in new numbered files.
-- Ids (UUIDs) are hyphenated lower-case TEXT and times RFC 3339 UTC TEXT, so the file can be read with the sqlite3
-- shell during an incident without decoding anything.

-- Server identity (server_id): cursors are only meaningful against the log of this one data directory.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Enrolled devices. Only the SHA-256 of a token is kept, so a copy of this file does not let anyone sync.
-- Revoked devices stay: their id is recorded beside every change they pushed.
CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    teams      TEXT NOT NULL,          -- JSON array of team names
    role       TEXT NOT NULL,          -- deminer, team-leader, supervisor, hq, admin (checked when read, so a new
                                       -- role needs no table rebuild)
    token_hash BLOB NOT NULL UNIQUE,   -- the lookup of every request
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

-- The append-only log that cursors walk. seq is allocated by the single writer (BEGIN IMMEDIATE), so entries
-- commit in seq order and a cursor never skips one. AUTOINCREMENT: a seq is never reused, even after a restore
-- that dropped the last rows, so a device's old cursor cannot silently point into different entries.
-- Three kinds of entry:
--   change       an accepted Automerge change of record_id, with the authenticated device that pushed it;
--   grant_task   team now sees the whole task task_id: pulling it delivers every change of the task's records;
--   grant_record team now sees record_id (it moved to one of the team's tasks): pulling it delivers its changes.
CREATE TABLE log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('change', 'grant_task', 'grant_record')),
    record_id   TEXT,
    task_id     TEXT,
    team        TEXT,
    hash        BLOB,                  -- SHA-256 of bytes, as Automerge defines a change hash
    bytes       BLOB,
    device_id   TEXT,                  -- the pushing device (for a grant: the device whose push granted it)
    received_at TEXT NOT NULL,
    -- Each kind fills exactly its own columns, so a reader never has to guess what a row means.
    CHECK (CASE kind
        WHEN 'change' THEN record_id IS NOT NULL AND hash IS NOT NULL AND length(hash) = 32 AND bytes IS NOT NULL
                           AND task_id IS NULL AND team IS NULL
        WHEN 'grant_task' THEN task_id IS NOT NULL AND team IS NOT NULL AND record_id IS NULL
                               AND hash IS NULL AND bytes IS NULL
        WHEN 'grant_record' THEN record_id IS NOT NULL AND team IS NOT NULL AND task_id IS NULL
                                 AND hash IS NULL AND bytes IS NULL
    END)
) STRICT;
-- A change is stored once per record: a retried push hits this index and is skipped (INSERT OR IGNORE).
CREATE UNIQUE INDEX log_change_identity ON log (record_id, hash) WHERE kind = 'change';
-- A record's changes in log order: loading a document, and delivering a grant without scanning the log.
CREATE INDEX log_changes_by_record ON log (record_id, seq) WHERE kind = 'change';

-- The merged record as the server last validated it: what scope decisions and HQ queries read.
CREATE TABLE records (
    record_id   TEXT PRIMARY KEY,
    record_type TEXT NOT NULL,
    task_id     TEXT,                  -- NULL for task-less records (hazard areas), which every device sees
    last_seq    INTEGER NOT NULL,      -- seq of the record's newest change in the log
    -- Large values last: scope checks read the columns above without touching overflow pages.
    body        TEXT NOT NULL,         -- the record's flat JSON, as shown
    warnings    TEXT NOT NULL          -- JSON array of the warnings it carries
) STRICT;
-- A task's records: records_of_task, and delivering a grant of a whole task.
CREATE INDEX records_by_task ON records (task_id);

-- The teams of each task, from the task record: the scope of the task and of every record in it.
CREATE TABLE task_teams (
    task_id TEXT NOT NULL,
    team    TEXT NOT NULL,
    PRIMARY KEY (task_id, team)
) STRICT, WITHOUT ROWID;

-- The hazard areas each task covers: validation of a hazard area looks up its tasks by hazard_id.
CREATE TABLE task_hazards (
    task_id   TEXT NOT NULL,
    hazard_id TEXT NOT NULL,
    PRIMARY KEY (task_id, hazard_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX task_hazards_by_hazard ON task_hazards (hazard_id);

-- Refused changes, kept for review: nothing a device sends is dropped silently. Never read by sync.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    change_hash TEXT,                  -- hex, when the bytes parsed as a change
    bytes       BLOB NOT NULL,         -- exactly what was sent, for a later look
    code        TEXT NOT NULL,         -- protocol::RejectionCode in snake_case
    message     TEXT NOT NULL,
    issues      TEXT NOT NULL,         -- JSON array of validation issues
    received_at TEXT NOT NULL
) STRICT;
