-- SMS integrations. A project's plan flag (SMS needs a paid plan; an operator sets it), the
-- verification code last sent to each phone number of a project (a salted SHA-256 of it,
-- never the code), and every code sent per number in the last hour, for the rate limit.
ALTER TABLE projects ADD COLUMN paid_plan BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE sms_verifications (
    project_id    TEXT NOT NULL,
    phone_number  TEXT NOT NULL,
    code_salt     BYTEA NOT NULL,
    code_hash     BYTEA NOT NULL,
    -- Wrong codes tried against it; it is dropped at the limit.
    attempts      BIGINT NOT NULL DEFAULT 0,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (project_id, phone_number)
);

CREATE TABLE sms_verification_sends (
    phone_number TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    sent_at_ms   BIGINT NOT NULL
);
CREATE INDEX sms_verification_sends_by_number ON sms_verification_sends (phone_number, sent_at_ms);
