-- Gate events the server cannot take as sent (a value out of range, one the database refuses):
-- set aside here with the reason instead of refusing the whole batch, so one bad event never
-- holds back a gate's journal. Kept once per gate and exact payload (a resend adds nothing).

CREATE TABLE rejected_events (
    id          bigserial PRIMARY KEY,
    gate_id     text NOT NULL,
    batch_id    text NOT NULL,
    event_id    text,                       -- as sent, when it was a valid id
    field       text,                       -- the offending field, when one is to blame
    reason      text NOT NULL,
    payload     bytea NOT NULL,             -- the event's JSON as sent (may hold NUL: not text)
    digest      bytea NOT NULL CHECK (length(digest) = 32),  -- SHA-256 of payload
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (gate_id, digest)
);
CREATE INDEX rejected_events_gate ON rejected_events (gate_id, received_at);
