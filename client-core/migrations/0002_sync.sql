-- Sync with a server (protocol v1). Settings (server URL, device token, server id, cursor) live in `meta`.

-- Why the server refused a local change, as JSON (code, message, issues). A refused change stays in the outbox:
-- it is pushed again together with any later change of its record, which may fix it.
ALTER TABLE changes ADD COLUMN rejection TEXT;

-- Acknowledgements and refusals arrive by change hash; without this index each one would scan every change.
CREATE INDEX changes_by_hash ON changes (hash);
