-- Who really made each change (crate::ingress, "authorship"): the Automerge actor of every logged change. An actor
-- is one install's writer id; the device that pushed the first logged change of an actor owns it, and a change of
-- that actor pushed by any other device is refused as `author_mismatch`. Rows logged before this migration get
-- their actor from their bytes when the server opens the file.
ALTER TABLE log ADD COLUMN actor BLOB;
CREATE INDEX log_actor ON log (actor, seq) WHERE actor IS NOT NULL;

-- The enrolled device that pushed the change setting each record's current review status (who submitted, returned
-- or approved it, as authenticated, not as the change claims): HQ's data-quality report lists approvals made by a
-- device whose role does not allow them (`approval_not_authorised`). Filled from the log for existing rows.
ALTER TABLE records ADD COLUMN review_by TEXT;
