-- No-data events (`no_data`, `data_resumed`) are delivered through the outbox like incident
-- events but belong to no incident: `outbox.incident_id` becomes optional. SQLite cannot drop
-- a NOT NULL constraint in place, so the table is rebuilt with the same columns and indexes.
CREATE TABLE outbox_new (
    id                 TEXT PRIMARY KEY,
    -- NULL for events that belong to no incident.
    incident_id        TEXT REFERENCES incidents (id),
    monitor_id         TEXT NOT NULL,
    -- 'incident' | 'recovery' | 'no_data' | 'data_resumed'
    event              TEXT NOT NULL,
    -- 'webhook'
    channel            TEXT NOT NULL,
    url                TEXT NOT NULL,
    -- HMAC signing secret; empty when the destination has none.
    secret             TEXT NOT NULL,
    payload            BLOB NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    -- 'pending' | 'delivered' | 'dead'
    state              TEXT NOT NULL,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL
);
INSERT INTO outbox_new (id, incident_id, monitor_id, event, channel, url, secret, payload,
    attempts, next_attempt_at_ms, state, last_error, created_at_ms, updated_at_ms)
SELECT id, incident_id, monitor_id, event, channel, url, secret, payload,
    attempts, next_attempt_at_ms, state, last_error, created_at_ms, updated_at_ms FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);
CREATE INDEX outbox_by_incident ON outbox (incident_id);
