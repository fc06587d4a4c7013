-- Monitors: the full definition is the protobuf lookout.v1.Monitor in `spec`
-- (the coordinator is the only writer); the other columns are for listing and filtering.
CREATE TABLE monitors (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    spec          BLOB NOT NULL,
    version       BIGINT NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
