-- When an officer's token was last used: it ends after kernel.access.IDLE_TIMEOUT without use
-- (NIST SP 800-63B), whatever is left of its 12-hour lifetime.
ALTER TABLE auth_tokens ADD COLUMN last_used_at TIMESTAMPTZ;
