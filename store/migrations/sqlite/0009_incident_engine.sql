-- The incident engine: a region degraded by DEGRADED results in a row (`failure_threshold` of
-- them; UP results in a row, `success_threshold`, clear it), so a restart keeps the monitor's
-- DEGRADED state and its warning incident.
ALTER TABLE notifier_region_state ADD COLUMN degraded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE notifier_region_state ADD COLUMN consecutive_degraded BIGINT NOT NULL DEFAULT 0;

-- Per monitor: the newest certificate seen (Unix ms of its expiry) and whether its coming
-- expiry was announced, so a restart neither repeats nor loses a certificate notification.
CREATE TABLE notifier_monitor_state (
    monitor_id        TEXT PRIMARY KEY,
    cert_not_after_ms BIGINT NOT NULL,
    cert_warned       BOOLEAN NOT NULL,
    updated_at_ms     BIGINT NOT NULL
);
