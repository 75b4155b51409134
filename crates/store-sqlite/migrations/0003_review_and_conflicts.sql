-- What HQ's data-quality report reads off each record's document besides the record itself (crate::quality).

-- The record's open conflicts: a JSON array of domain::FieldConflict, every field that devices set concurrently
-- with each candidate value and who set it. Empty once a supervisor has decided them.
ALTER TABLE records ADD COLUMN conflicts TEXT NOT NULL DEFAULT '[]';

-- When the record's current review status was set (RFC 3339, by the clock of the device that set it): a record
-- waiting in draft, submitted or returned since long ago is stuck in review. NULL for a record with no review field.
-- Rows written before this migration get both columns from their changes when the server opens the file.
ALTER TABLE records ADD COLUMN review_since TEXT;
