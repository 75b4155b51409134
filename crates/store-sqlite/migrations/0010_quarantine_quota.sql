-- A device's quarantine quota (docs/security.md, "Limits under abuse"): the bytes of refusals kept for each device
-- each UTC day, and what went beyond them, counted and hashed instead of kept (sync_core::store::QuarantineOverflow).
-- Refusals kept before this migration are not counted against the day they were received.
CREATE TABLE quarantine_days (
    device_id      TEXT NOT NULL,
    day            TEXT NOT NULL,                -- YYYY-MM-DD, UTC
    kept_bytes     INTEGER NOT NULL DEFAULT 0,   -- what the kept refusals cost (bytes, message, issues)
    over_refusals  INTEGER NOT NULL DEFAULT 0,   -- refusals beyond the quota, not kept
    over_bytes     INTEGER NOT NULL DEFAULT 0,   -- what keeping them would have cost
    over_digest    BLOB,                         -- SHA-256 chained over the SHA-256 of their bytes
    PRIMARY KEY (device_id, day)
) STRICT, WITHOUT ROWID;
