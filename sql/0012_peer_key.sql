-- Gate peer links: while cut off from the command server, the gates of an event share presence
-- directly. They authenticate to each other with an HMAC under a secret of the event that the
-- server hands out with every list sync (and gates persist), so peers keep working offline.

CREATE TABLE event_peer_keys (
    event_id    text PRIMARY KEY,
    secret      bytea NOT NULL CHECK (length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
