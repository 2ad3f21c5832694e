-- Portal users and their sign-in sessions. Timestamps are Unix milliseconds (UTC).

CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- Sign-in is by e-mail alone, so an address is unique across tenants.
    email                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role                  TEXT NOT NULL CHECK (role IN ('admin', 'analyst')),
    password_hash         TEXT NOT NULL,   -- argon2id PHC string
    must_change_password  INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    password_changed_at   INTEGER
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE sessions (
    -- SHA-256 (hex) of the cookie value; the value itself is never stored.
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- The dashboard's "alerts over time" and top lists read alerts by creation time.
CREATE INDEX alerts_created ON alerts(tenant_id, created_at);
