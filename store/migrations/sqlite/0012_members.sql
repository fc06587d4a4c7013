-- Members of a project: the people whose addresses email integrations send to. A delivery to a
-- member's address is refused until the member verified it with the code mailed to it.
-- `email_key` is the address lower-cased (addresses are compared case-insensitively). Deleting
-- a project deletes its members.
CREATE TABLE project_members (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL,
    email                TEXT NOT NULL,
    email_key            TEXT NOT NULL,
    name                 TEXT NOT NULL,
    verified_at_ms       BIGINT,
    -- The pending verification code, sealed like every secret (NULL once verified).
    code_sealed          BLOB,
    code_key_id          TEXT,
    code_created_at_ms   BIGINT,
    code_expires_at_ms   BIGINT,
    -- Wrong codes entered against the pending code.
    code_attempts        BIGINT NOT NULL DEFAULT 0,
    -- Mailing the code (done by the notifier): when it was sent, the last error, and when the
    -- next try is due (NULL: nothing to send).
    code_sent_at_ms      BIGINT,
    code_error           TEXT NOT NULL DEFAULT '',
    code_send_attempts   BIGINT NOT NULL DEFAULT 0,
    code_next_send_at_ms BIGINT,
    created_at_ms        BIGINT NOT NULL
);
CREATE UNIQUE INDEX project_members_by_email ON project_members (project_id, email_key);
CREATE INDEX project_members_code_due ON project_members (code_next_send_at_ms);
