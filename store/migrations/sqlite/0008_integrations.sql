-- Integrations: stored, project-scoped destinations with a typed kind. The whole
-- `lookout.v1.Integration` (secrets included) is stored protobuf-encoded and sealed in `spec`,
-- as monitors are; `kind` and `name` mirror it in clear for listing.
CREATE TABLE integrations (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    name          TEXT NOT NULL,
    -- 'webhook' | 'slack' | 'discord' | ...
    kind          TEXT NOT NULL,
    spec          BLOB NOT NULL,
    spec_key_id   TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX integrations_by_project ON integrations (project_id, id);

-- Which monitors attach which integrations (mirrors `Monitor.integration_ids`, kept by the
-- coordinator), so deleting an attached integration can be refused naming the monitors.
CREATE TABLE monitor_integrations (
    monitor_id     TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    PRIMARY KEY (monitor_id, integration_id)
);
CREATE INDEX monitor_integrations_by_integration ON monitor_integrations (integration_id);

-- Project variables for templates (`{{NAME}}`); the value is sealed, secret or not.
CREATE TABLE project_variables (
    project_id    TEXT NOT NULL REFERENCES projects (id),
    name          TEXT NOT NULL,
    value         BLOB NOT NULL,
    value_key_id  TEXT NOT NULL,
    secret        BOOLEAN NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- The outbox holds the event (an encoded `lookout.v1.NotificationEvent`) and the integration,
-- never a rendered body or a secret. Rows from before integrations keep their destination in
-- `integration_id` as 'legacy:' || url until the store's data migration (integrations.rs)
-- maps them to the webhook integrations it creates from the monitors' webhooks.
CREATE TABLE outbox_new (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL,
    -- NULL for events that belong to no incident.
    incident_id        TEXT REFERENCES incidents (id),
    -- NULL for test events.
    monitor_id         TEXT,
    integration_id     TEXT NOT NULL,
    -- The event kind label: 'incident' | 'recovery' | 'no_data' | ... | 'test'.
    event              TEXT NOT NULL,
    -- The integration's kind when the row was written.
    channel            TEXT NOT NULL,
    payload            BLOB NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    -- 'pending' | 'delivered' | 'dead'
    state              TEXT NOT NULL,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL
);
INSERT INTO outbox_new (id, project_id, incident_id, monitor_id, integration_id, event, channel,
    payload, attempts, next_attempt_at_ms, state, last_error, created_at_ms, updated_at_ms)
SELECT o.id, COALESCE(m.project_id, 'prj_default'), o.incident_id, o.monitor_id,
    'legacy:' || o.url, o.event, o.channel, o.payload, o.attempts, o.next_attempt_at_ms,
    o.state, o.last_error, o.created_at_ms, o.updated_at_ms
FROM outbox o LEFT JOIN monitors m ON m.id = o.monitor_id;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);
CREATE INDEX outbox_by_incident ON outbox (incident_id);
CREATE INDEX outbox_by_project ON outbox (project_id, created_at_ms);
CREATE INDEX outbox_by_integration ON outbox (integration_id, state);

-- Every attempt of every delivery. `error` and `response_excerpt` never hold a secret.
CREATE TABLE delivery_attempts (
    delivery_id      TEXT NOT NULL,
    attempt          BIGINT NOT NULL,
    integration_id   TEXT NOT NULL,
    at_ms            BIGINT NOT NULL,
    status_code      BIGINT NOT NULL,
    latency_us       BIGINT NOT NULL,
    error            TEXT NOT NULL,
    response_excerpt TEXT NOT NULL,
    -- 'delivered' | 'retry' | 'dead'
    outcome          TEXT NOT NULL,
    -- A re-driven delivery counts its attempts from 1 again.
    PRIMARY KEY (delivery_id, at_ms, attempt)
);

-- The incident engine's fields (escalation, reminders, acknowledgement, dependencies).
ALTER TABLE incidents ADD COLUMN severity TEXT NOT NULL DEFAULT 'critical';
ALTER TABLE incidents ADD COLUMN level BIGINT NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN escalated_at_ms BIGINT;
ALTER TABLE incidents ADD COLUMN acknowledged_at_ms BIGINT;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN reminders_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN next_reminder_at_ms BIGINT;
ALTER TABLE incidents ADD COLUMN resolved_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN caused_by_incident_id TEXT;
ALTER TABLE incidents ADD COLUMN silenced BOOLEAN NOT NULL DEFAULT FALSE;

-- Acknowledge and resolve requests from the admin API, applied by the notifier (the only
-- writer of incidents) in the transaction that changes the incident.
CREATE TABLE incident_actions (
    id            TEXT PRIMARY KEY,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    -- 'ack' | 'resolve'
    action        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    note          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    applied_at_ms BIGINT
);
CREATE INDEX incident_actions_pending ON incident_actions (applied_at_ms, created_at_ms);

-- One-time data migrations done in code, by name.
CREATE TABLE store_data_migrations (
    name          TEXT PRIMARY KEY,
    done_at_ms    BIGINT NOT NULL
);
-- Rebuilding the table dropped the indexes 0007 made on it (PostgreSQL keeps them): without
-- outbox_by_monitor, every claim checks each due row against all pending rows of its
-- integration (bench deliveries: 4,000 rows drained at about 1 a second).
CREATE INDEX outbox_by_monitor ON outbox (monitor_id, state);
CREATE INDEX outbox_by_state_age ON outbox (state, updated_at_ms);
