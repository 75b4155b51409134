-- The base-camp tier (docs/relay.md). A device another server enrolled, whose changes a relay carries here, is kept
-- beside the devices enrolled here so that every change in the log still names the device that made it; `carrier`
-- is the relay that vouches for it (NULL: enrolled here, with a token of its own). A vouched device's token_hash is
-- random: no token hashes to it, so it can never authenticate, and it seals no bundle.
ALTER TABLE devices ADD COLUMN carrier TEXT;

-- A change the upstream server refused is kept in quarantine here and told to the device that made it at its next
-- syncs (sync_core::serve): `told_cursor` is the cursor of the last response that told it, and it is told again
-- until the device's cursor has moved past that, so a lost response loses no refusal.
ALTER TABLE quarantine ADD COLUMN told_cursor INTEGER;
CREATE INDEX quarantine_by_device ON quarantine (device_id, id);
