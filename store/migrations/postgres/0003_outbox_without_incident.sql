-- No-data events (`no_data`, `data_resumed`) are delivered through the outbox like incident
-- events but belong to no incident: `outbox.incident_id` becomes optional.
ALTER TABLE outbox ALTER COLUMN incident_id DROP NOT NULL;
