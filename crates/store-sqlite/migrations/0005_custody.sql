-- Custody after a restore (sync_core::pull): a device's pull leaves out only the changes it pushes in the request
-- being answered, those after the last change it had pushed before. That mark is kept here, raised by every append
-- in the same transaction as the changes, and filled from the log for existing devices.
ALTER TABLE devices ADD COLUMN pushed_through INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET pushed_through = COALESCE(
    (SELECT max(seq) FROM log WHERE log.kind = 'change' AND log.device_id = devices.device_id), 0);
