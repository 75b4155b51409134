-- A change the camp acknowledged can still be refused by HQ, which the camp tells this device at a later sync
-- (docs/relay.md): such a change is acknowledged and carries its refusal. `fieldsync status` lists them beside the
-- outbox, through this index, without reading every acknowledged change.
CREATE INDEX changes_refused_after_acknowledgement ON changes (seq) WHERE origin = 'local' AND acknowledged = 1 AND rejection IS NOT NULL;
