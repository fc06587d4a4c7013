-- Flapping (the incident engine): whether the monitor is in an episode and the times (Unix ms,
-- comma-separated, oldest first, at most 101) of its recent health changes, so a restart
-- neither announces an episode twice nor forgets one that is under way.
ALTER TABLE notifier_monitor_state ADD COLUMN flapping BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE notifier_monitor_state ADD COLUMN flap_changes TEXT NOT NULL DEFAULT '';
