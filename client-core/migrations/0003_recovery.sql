-- Recovery with a new or restored server (docs/protocol.md, "Recovery").

-- Records whose whole document this device asks the server for (`want`): ones the server holds and this device
-- lacks, or holds only in part. A row goes once the server has answered for it.
CREATE TABLE wanted (
    record_id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- Recovery may put changes back in the outbox: a change the server has lost becomes origin 'local' and
-- unacknowledged again, whoever made it, since this device now owes it to the server. 'local' thus means "this
-- device delivers it", which is what the outbox, acknowledgements and compaction read it as.
