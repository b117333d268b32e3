-- Encryption at rest (registry/vault.py): the registry's data keys, each stored only wrapped by
-- the operator's key-encryption key. A 'retiring' key still opens old values while
-- `gerbang registry keys rotate` re-seals them under the 'active' one; then it is deleted.
CREATE TABLE vault_keys (
    id         INTEGER PRIMARY KEY,
    salt       BYTEA NOT NULL,                       -- scrypt salt when the KEK is a passphrase
    wrapped    BYTEA NOT NULL,                       -- nonce | AES-GCM(KEK, data key)
    kek_kind   TEXT NOT NULL,                        -- passphrase | key_file | credential | development
    state      TEXT NOT NULL CHECK (state IN ('active', 'retiring')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
