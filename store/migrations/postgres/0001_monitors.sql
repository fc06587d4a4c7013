-- Monitors: the full definition is the protobuf lookout.v1.Monitor in `spec`
-- (the coordinator is the only writer); the other columns are for listing and filtering.
-- The PostgreSQL twin of migrations/sqlite/0001 (BYTEA for BLOB).
CREATE TABLE monitors (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    spec          BYTEA NOT NULL,
    version       BIGINT NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
