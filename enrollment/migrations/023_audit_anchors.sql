-- Heads of the audit chain witnessed outside this database: each head the registry accepted with
-- a push. `gerbang audit verify` proves the chain still reaches every one, so deleting the
-- newest events, or editing one and re-hashing all after it, is found, not only a broken link.
CREATE TABLE audit_anchors (
    seq         INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL,
    anchored_at TEXT NOT NULL,
    witness     TEXT NOT NULL
);
