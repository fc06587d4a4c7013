-- Projects: every monitor belongs to one; incidents and deliveries belong to the project of
-- their monitor. `monitor_count` is kept by the monitor writes (a guarded increment in the
-- insert's transaction) so the `max_monitors` quota holds under concurrent creates.
CREATE TABLE projects (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    max_monitors            BIGINT NOT NULL,
    min_interval_secs       BIGINT NOT NULL,
    max_regions_per_monitor BIGINT NOT NULL,
    monitor_count           BIGINT NOT NULL DEFAULT 0,
    created_at_ms           BIGINT NOT NULL
);
-- The project of existing databases, of the configured `project_tokens` and of monitors
-- declared in a config file; it keeps the limits monitors had before projects existed.
INSERT INTO projects (id, name, max_monitors, min_interval_secs, max_regions_per_monitor,
    monitor_count, created_at_ms)
SELECT 'prj_default', 'default', MAX(100000, COUNT(*)), 1, 16, COUNT(*),
    CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM monitors;

ALTER TABLE monitors ADD COLUMN project_id TEXT NOT NULL DEFAULT 'prj_default';
CREATE INDEX monitors_by_project ON monitors (project_id, id);

-- API tokens of a project, stored as SHA-256 hashes of the token (shown once at creation).
CREATE TABLE project_tokens (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL,
    token_hash    BLOB NOT NULL UNIQUE,
    -- The token's first characters, to recognise it in a list.
    prefix        TEXT NOT NULL,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX project_tokens_by_project ON project_tokens (project_id, id);
