-- The SQLite twin of migrations/postgres/0017. A SQLite store serves one coordinator, which
-- always leads: the leader row still counts its epochs, but the change feed has no trigger
-- (that one process sees every change itself) and stays empty.
CREATE TABLE coordinator_leader (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    epoch    BIGINT NOT NULL,
    holder   TEXT NOT NULL,
    address  TEXT NOT NULL,
    since_ms BIGINT NOT NULL
);

CREATE TABLE monitor_feed_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO monitor_feed_head (id, seq) VALUES (1, 0);

CREATE TABLE monitor_changes (
    seq        BIGINT PRIMARY KEY,
    monitor_id TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX monitor_changes_by_time ON monitor_changes (at_ms);

CREATE TABLE agent_registry (
    agent_id   TEXT NOT NULL,
    region     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    agent      BLOB NOT NULL,
    PRIMARY KEY (region, agent_id)
);
