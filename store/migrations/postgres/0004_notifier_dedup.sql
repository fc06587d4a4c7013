-- De-duplication watermark per (monitor, region), stored with the counters and only when they
-- change (healthy monitors still cost no writes): the newest applied result's scheduled
-- instant and the ids of the results applied at that instant (comma-separated, at most 16).
ALTER TABLE notifier_region_state ADD COLUMN newest_scheduled_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notifier_region_state ADD COLUMN newest_result_ids TEXT NOT NULL DEFAULT '';
