-- Notifier state. Written only by the notifier, one transaction per consumed batch:
-- region counters, incidents, outbox rows and the consumed offsets move together.

-- Per (monitor, region) counters. Absent row = healthy region with no failures.
CREATE TABLE notifier_region_state (
    monitor_id            TEXT NOT NULL,
    region                TEXT NOT NULL,
    down                  BOOLEAN NOT NULL,
    consecutive_failures  BIGINT NOT NULL,
    consecutive_successes BIGINT NOT NULL,
    last_status           TEXT NOT NULL,
    updated_at_ms         BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, region)
);

CREATE TABLE incidents (
    id             TEXT PRIMARY KEY,
    monitor_id     TEXT NOT NULL,
    -- 'open' | 'resolved'
    status         TEXT NOT NULL,
    opened_at_ms   BIGINT NOT NULL,
    resolved_at_ms BIGINT,
    -- Error message of the result that opened the incident.
    cause          TEXT NOT NULL,
    -- Comma-separated regions that were down when the incident opened.
    regions        TEXT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
-- At most one open incident per monitor.
CREATE UNIQUE INDEX incidents_one_open ON incidents (monitor_id) WHERE status = 'open';
CREATE INDEX incidents_by_monitor ON incidents (monitor_id, opened_at_ms);

-- Deliveries to do. `id` is the idempotency id sent with every attempt.
CREATE TABLE outbox (
    id                 TEXT PRIMARY KEY,
    incident_id        TEXT NOT NULL REFERENCES incidents (id),
    monitor_id         TEXT NOT NULL,
    -- 'incident' | 'recovery'
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
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);
CREATE INDEX outbox_by_incident ON outbox (incident_id);

-- The next offset to read per consumer group, topic and partition.
CREATE TABLE notifier_offsets (
    group_id    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    partition_id INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (group_id, topic, partition_id)
);
