-- Sessions: one row per session (a browser session or a refresh-token
-- family) for its whole life, under the hex of its public id. The record
-- holds the SHA-256 of the token's secret, never the token.
CREATE TABLE IF NOT EXISTS auth_sessions (
    key                 TEXT        PRIMARY KEY,
    user_id             TEXT        NOT NULL,
    record              JSONB       NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    last_refresh_at     TIMESTAMPTZ NOT NULL,
    version             BIGINT      NOT NULL
);
-- The per-user index: the device list and logout everywhere.
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (user_id);
-- Cleanup of expired rows.
CREATE INDEX IF NOT EXISTS auth_sessions_ends
    ON auth_sessions (LEAST(idle_expires_at, absolute_expires_at));

-- Login throttle counters.
CREATE TABLE IF NOT EXISTS auth_counters (
    key        TEXT        PRIMARY KEY,
    count      BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Recent revocations, announced to every instance with NOTIFY and kept
-- here until they no longer matter, so an instance that was disconnected
-- catches up.
CREATE TABLE IF NOT EXISTS auth_revocations (
    id         BIGSERIAL   PRIMARY KEY,
    revocation TEXT        NOT NULL,
    forget_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_revocations_forget ON auth_revocations (forget_at);
