-- A refused change is kept once (sync_core::store, `quarantine`): the same bytes refused again for the same device,
-- record and reason (a bundle imported twice, a tablet pushing again what was refused) add no row. The index finds
-- the earlier rows of a record and device without reading the whole quarantine.
CREATE INDEX quarantine_by_record ON quarantine (record_id, device_id);
