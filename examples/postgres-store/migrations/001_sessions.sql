-- Sessions: one row per session, under the hex SHA-256 of its token.
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
