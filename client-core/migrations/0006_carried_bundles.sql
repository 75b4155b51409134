-- Bundles other devices wrote, imported here (a supervisor's laptop taking a tablet's USB stick): kept as written,
-- sealed by the device that wrote them, and forwarded to the server at this device's next sync
-- (client-core carried.rs), so what a device imports reaches the server as the writing device's push. `digest`:
-- the SHA-256 of the file; `forwarded_at`: when the server took it; `refusal`: why the server refused it whole.
CREATE TABLE carried_bundles (
    digest TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    source_name TEXT NOT NULL,
    bytes BLOB NOT NULL,
    imported_at TEXT NOT NULL,
    forwarded_at TEXT,
    refusal TEXT
);
