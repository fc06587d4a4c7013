-- The Slack app. OAuth states handed out by `POST /api/v1/integrations/slack/initiate`
-- (a SHA-256 of the state, single-use, expiring, bound to the project), and the message each
-- Slack app integration posted for an incident, so the resolution updates that message
-- (`chat.update` needs its channel and `ts`) and a Resolve click finds its incident.
CREATE TABLE slack_oauth_states (
    state_hash    BYTEA PRIMARY KEY,
    project_id    TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX slack_oauth_states_by_project ON slack_oauth_states (project_id);

CREATE TABLE slack_messages (
    incident_id    TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    ts             TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, integration_id)
);
CREATE INDEX slack_messages_by_message ON slack_messages (channel_id, ts);
