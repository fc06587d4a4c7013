-- Monitor lifecycle. A deleted monitor keeps its row (webhooks, secrets) with `deleted_at_ms`
-- set, so the notifier can still deliver and sign the notification that resolves its open
-- incident; the admin API and agents no longer see it, and the notifier's retention prunes
-- the row once nothing pending refers to it.
ALTER TABLE monitors ADD COLUMN deleted_at_ms BIGINT;
-- The version the monitor last became active at (resumed after a pause, or recreated under a
-- deleted declared id): results produced with an older version are stale and never count.
ALTER TABLE monitors ADD COLUMN active_since_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX monitors_deleted ON monitors (deleted_at_ms) WHERE deleted_at_ms IS NOT NULL;
-- Retention prunes by age: delivered and dead outbox rows by their last change, resolved
-- incidents by their resolution.
CREATE INDEX outbox_by_state_age ON outbox (state, updated_at_ms);
CREATE INDEX incidents_resolved_age ON incidents (resolved_at_ms) WHERE status = 'resolved';
CREATE INDEX outbox_by_monitor ON outbox (monitor_id, state);
