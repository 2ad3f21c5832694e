-- OpenTI schema. Every table is keyed by tenant; timestamps are Unix milliseconds (UTC).

CREATE TABLE tenants (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    created_at           INTEGER NOT NULL,
    max_definitions      INTEGER NOT NULL,
    max_iocs             INTEGER NOT NULL,
    max_non_equals_iocs  INTEGER NOT NULL
);

CREATE TABLE apps (
    client_id     TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    roles         TEXT NOT NULL,          -- JSON array of role names
    is_custom_ti  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX apps_tenant ON apps(tenant_id);
-- A tenant has at most one custom TI application.
CREATE UNIQUE INDEX apps_one_custom_ti ON apps(tenant_id) WHERE is_custom_ti = 1;

CREATE TABLE app_secrets (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    description  TEXT NOT NULL,
    hash         TEXT NOT NULL,           -- argon2id PHC string; the secret itself is never stored
    hint         TEXT NOT NULL,           -- first characters, to tell secrets apart
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX app_secrets_client ON app_secrets(tenant_id, client_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE alert_definitions (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    severity              TEXT NOT NULL,
    internal_description  TEXT,
    title                 TEXT NOT NULL,
    ux_description        TEXT NOT NULL,
    recommended_action    TEXT,
    category              TEXT NOT NULL,
    enabled               BOOLEAN NOT NULL,
    created_at            INTEGER NOT NULL,
    created_by            TEXT,
    last_modified_at      INTEGER,
    last_modified_by      TEXT
);
CREATE INDEX alert_definitions_tenant ON alert_definitions(tenant_id, id);

CREATE TABLE indicators (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    alert_definition_id  INTEGER NOT NULL REFERENCES alert_definitions(id) ON DELETE CASCADE,
    ioc_type             TEXT NOT NULL,
    value                TEXT NOT NULL,
    detection_function   TEXT NOT NULL,
    enabled              BOOLEAN NOT NULL,
    expires_at           INTEGER,
    hit_count            INTEGER NOT NULL DEFAULT 0,
    last_seen_at         INTEGER,
    created_at           INTEGER NOT NULL,
    created_by           TEXT,
    last_modified_at     INTEGER,
    last_modified_by     TEXT
);
CREATE INDEX indicators_tenant ON indicators(tenant_id, id);
CREATE INDEX indicators_value ON indicators(tenant_id, ioc_type, value);
CREATE INDEX indicators_definition ON indicators(alert_definition_id);

CREATE TABLE alerts (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- No foreign key: alerts outlive the definitions and IOCs that raised them.
    alert_definition_id  INTEGER NOT NULL,
    title                TEXT NOT NULL,
    description          TEXT NOT NULL,
    recommended_action   TEXT,
    severity             TEXT NOT NULL,
    category             TEXT NOT NULL,
    status               TEXT NOT NULL,
    classification       TEXT,
    assigned_to          TEXT,
    ioc_ids              TEXT NOT NULL,   -- JSON array
    device_id            TEXT NOT NULL,
    device_name          TEXT,
    first_event_time     INTEGER NOT NULL,
    last_event_time      INTEGER NOT NULL,
    event_count          INTEGER NOT NULL,
    ioc_name             TEXT NOT NULL,
    ioc_value            TEXT NOT NULL,
    ioc_unique_id        INTEGER NOT NULL,
    detection_source     TEXT NOT NULL,
    evidence             TEXT NOT NULL,   -- JSON array, bounded
    created_at           INTEGER NOT NULL,
    last_modified_at     INTEGER,
    last_modified_by     TEXT
);
CREATE INDEX alerts_tenant ON alerts(tenant_id, id);
CREATE INDEX alerts_grouping ON alerts(tenant_id, alert_definition_id, device_id, first_event_time);

CREATE TABLE devices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    device_id    TEXT NOT NULL,
    device_name  TEXT,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    event_count  INTEGER NOT NULL,
    UNIQUE (tenant_id, device_id)
);

-- The durable change feed: one row per entity change, written in the change's transaction.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  INTEGER,
    op         TEXT NOT NULL,
    at         INTEGER NOT NULL
);
