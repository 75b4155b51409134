-- One-time enrollment codes (docs/security.md, "Enrollment codes and credentials"): `device add` and `device rotate`
-- issue one, the device exchanges it once for a credential of its own. Only the SHA-256 of a code is kept. A spent, expired or superseded
-- code stays, so that its second use is told what became of it rather than "unknown".
CREATE TABLE enrollment_codes (
    code_hash     BLOB PRIMARY KEY,
    device_id     TEXT NOT NULL REFERENCES devices (device_id),
    issued_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT,               -- when it was exchanged for a credential
    superseded_at TEXT                -- when a newer code was issued for the device
) STRICT;
CREATE INDEX enrollment_codes_by_device ON enrollment_codes (device_id);
