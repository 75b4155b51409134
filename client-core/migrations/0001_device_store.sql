-- The device store. Append-only once landed: later changes go in new numbered files.

-- Device identity and settings: device_id, device_name, user, actor.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One Automerge document per record: its current heads and, after compaction, a snapshot.
CREATE TABLE documents (
    record_id       TEXT PRIMARY KEY,
    heads           BLOB NOT NULL,              -- concatenated 32-byte change hashes
    snapshot        BLOB,                       -- Automerge save() output covering the rows marked in_snapshot
    pending_changes INTEGER NOT NULL DEFAULT 0  -- change rows not yet covered by the snapshot
) STRICT;

-- Every change this device holds, as bytes. Local changes stay until a server acknowledges them (the outbox).
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- local arrival order
    record_id    TEXT NOT NULL,
    hash         BLOB NOT NULL,
    bytes        BLOB NOT NULL,
    origin       TEXT NOT NULL CHECK (origin IN ('local', 'remote')),
    acknowledged INTEGER NOT NULL DEFAULT 0,
    in_snapshot  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (record_id, hash)
) STRICT;
CREATE INDEX changes_outbox ON changes (origin, acknowledged) WHERE origin = 'local' AND acknowledged = 0;

-- The materialized record, derived from its document in the same transaction, for lists and lookups.
CREATE TABLE records (
    record_id           TEXT PRIMARY KEY,
    record_type         TEXT NOT NULL,
    label               TEXT NOT NULL,
    task_id             TEXT,
    status              TEXT,
    review              TEXT NOT NULL,
    date_of_information TEXT NOT NULL,
    entered_at          TEXT NOT NULL,
    voided              INTEGER NOT NULL,
    conflict_count      INTEGER NOT NULL,
    error_count         INTEGER NOT NULL,
    warning_count       INTEGER NOT NULL,
    -- Large values last: a list reads the columns above without touching the overflow pages of these.
    body                TEXT NOT NULL,   -- the record's flat JSON, as shown (safety fields resolved towards danger)
    conflicts           TEXT NOT NULL,   -- JSON array of open conflicts
    issues              TEXT NOT NULL    -- JSON array of validation issues
) STRICT;
-- Lists filter by task and/or type and sort by date and label; these indexes serve both without a sort.
CREATE INDEX records_by_type ON records (record_type, date_of_information, label);
CREATE INDEX records_by_task ON records (task_id, record_type, date_of_information, label);
CREATE INDEX records_by_status ON records (status);
CREATE INDEX records_by_label ON records (label);
CREATE INDEX records_in_conflict ON records (conflict_count) WHERE conflict_count > 0;

-- Bounding boxes of records that have geometry, keyed by records.rowid: overlap and duplicate checks look up
-- their neighbours here instead of scanning every record of a task.
CREATE VIRTUAL TABLE records_area USING rtree (id, min_lon, max_lon, min_lat, max_lat);

-- Links child → parent, from the records; reverse lists (a task's finds) are queries on to_id.
CREATE TABLE links (
    from_id TEXT NOT NULL,
    field   TEXT NOT NULL,
    to_id   TEXT NOT NULL,
    PRIMARY KEY (from_id, field, to_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX links_to ON links (to_id, field);
