-- The dispatcher claims due rows in (next_attempt_at_ms, id) order, LIMIT the free workers.
-- With `id` missing from the index, rows due at the same time (an outage's burst) were all
-- sorted before the limit applied, every claim: 4 ms per claim at 4,000 due rows, which
-- bounded deliveries to about 1,000/s. With it, the index gives the order and the claim
-- stops at the limit (0.05 ms).
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms, id);
