-- Secrets at rest. `monitors.spec` holds the protobuf sealed with AES-256-GCM; `spec_key_id`
-- names the key it is sealed with (NULL: a plaintext row from before this migration, sealed
-- by the next start that has a key, see keys.rs), so a start can tell at once whether every
-- key the rows need is configured.
ALTER TABLE monitors ADD COLUMN spec_key_id TEXT;

-- One known value sealed under each key id ever used: a start whose key of that id does not
-- open it has the wrong key, and stops before it reads or writes anything sealed.
CREATE TABLE seal_key_checks (
    key_id        TEXT PRIMARY KEY,
    sealed        BLOB NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Deliveries are signed when they are sent, from the monitor's current webhook secret.
ALTER TABLE outbox DROP COLUMN secret;
