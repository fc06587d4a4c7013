-- The incident engine: a region degraded by DEGRADED results in a row (`failure_threshold` of
-- them; UP results in a row, `success_threshold`, clear it), so a restart keeps the monitor's
-- DEGRADED state and its warning incident.
ALTER TABLE notifier_region_state ADD COLUMN degraded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE notifier_region_state ADD COLUMN consecutive_degraded BIGINT NOT NULL DEFAULT 0;
