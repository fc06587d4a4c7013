-- Coordinator replicas on one database. The leader is whoever holds the advisory lock on its
-- own connection (see src/leader.rs); this row says who that is, where agents reach it, and
-- the epoch every leadership term increments, which fences a deposed leader.
CREATE TABLE coordinator_leader (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    epoch    BIGINT NOT NULL,
    holder   TEXT NOT NULL,
    address  TEXT NOT NULL,
    since_ms BIGINT NOT NULL
);

-- The change feed: one row per write to a monitor, by whichever replica made it, appended in
-- the writing transaction. Its numbers come from the one `monitor_feed_head` row, whose lock
-- the writing transaction holds until it commits: so change n+1 never becomes visible before
-- change n, a rolled back write gives its number back, and the leader reads the feed with a
-- plain cursor (`seq > last`) without missing a change that committed late. Rows older than
-- the feed's retention are pruned by the leader.
CREATE TABLE monitor_feed_head (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO monitor_feed_head (id, seq) VALUES (1, 0);

CREATE TABLE monitor_changes (
    seq        BIGINT PRIMARY KEY,
    monitor_id TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX monitor_changes_by_time ON monitor_changes (at_ms);

CREATE FUNCTION lookout_monitor_changed() RETURNS trigger AS $$
DECLARE
    n BIGINT;
    changed TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD.id;
    ELSE
        changed := NEW.id;
    END IF;
    UPDATE monitor_feed_head SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO n;
    INSERT INTO monitor_changes (seq, monitor_id, at_ms)
    VALUES (n, changed, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- Deferred to the commit: the head row is then always the last lock a writing transaction
-- takes (after any project row it updates), so two writers never wait for each other in
-- opposite orders, and the head is held only for the commit itself.
CREATE CONSTRAINT TRIGGER monitors_changed AFTER INSERT OR UPDATE OR DELETE ON monitors
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION lookout_monitor_changed();

-- The agents connected to the leader, as it last wrote them (every few seconds, fenced by its
-- epoch), so every replica can answer ListAgents. `agent` is the encoded lookout.v1.Agent.
CREATE TABLE agent_registry (
    agent_id   TEXT NOT NULL,
    region     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    agent      BYTEA NOT NULL,
    PRIMARY KEY (region, agent_id)
);
