-- Receipts (docs/relay.md): how far a change this device made has travelled. `logged_through` is, for an
-- acknowledged change, the position in its server's log of the last change this device had pushed when the
-- server acknowledged it (the response's `pushed_through`): the change is logged at or before it. Once the
-- server's `relayed_through` (kept in meta) reaches it, the change has been answered upstream too.
ALTER TABLE changes ADD COLUMN logged_through INTEGER;
