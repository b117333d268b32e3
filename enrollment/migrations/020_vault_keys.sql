-- Encryption at rest (enrollment/keyring.py): the site's data keys, each stored only wrapped by
-- the operator's key-encryption key. 'retiring' keys still open old values while
-- `gerbang keys rotate` re-seals them under the 'active' one, then they are deleted.
CREATE TABLE vault_keys (
    id         INTEGER PRIMARY KEY,
    salt       BLOB NOT NULL,                       -- scrypt salt when the KEK is a passphrase
    wrapped    BLOB NOT NULL,                       -- nonce | AES-GCM(KEK, data key)
    kek_kind   TEXT NOT NULL,                       -- passphrase | key_file | credential | development
    state      TEXT NOT NULL CHECK (state IN ('active', 'retiring')),
    created_at TEXT NOT NULL
);
