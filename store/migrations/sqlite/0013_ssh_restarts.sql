-- When each server was last restarted by an SSH restart integration, so the cooldown that keeps
-- a flapping monitor from reboot-looping a machine holds across notifier restarts and between
-- notifier processes. `server` is `host:port`, the host lower-case.
CREATE TABLE ssh_restarts (
    server          TEXT PRIMARY KEY,
    restarted_at_ms BIGINT NOT NULL,
    integration_id  TEXT NOT NULL,
    delivery_id     TEXT NOT NULL
);
