-- Recovery and catch-up (docs/protocol.md, "Recovery" and "Snapshots").

-- The heads of each record's document: concatenated 32-byte change hashes in ascending order. Recovery compares a
-- device's digest of its heads with these without loading any document. Rows written before this migration are
-- filled in by the server when it opens the file (it needs Automerge to compute them).
ALTER TABLE records ADD COLUMN heads BLOB NOT NULL DEFAULT x'';

-- The latest snapshot of each record's document (Automerge save()), covering every change of the record with
-- seq <= covers_seq. Loading a document reads it plus the changes after it, and a device that lacks the record
-- is sent it instead of every change. The log still keeps every change: a snapshot only saves work.
CREATE TABLE snapshots (
    record_id  TEXT PRIMARY KEY,
    covers_seq INTEGER NOT NULL,
    bytes      BLOB NOT NULL
) STRICT;
