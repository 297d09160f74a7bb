-- Watchlists (background screening): lists with a severity, entries with a 128-d face encoding,
-- and the hits gates report. Entries carry a sync version (shared sequence) for gate sync.

CREATE TABLE watchlists (
    id          text PRIMARY KEY,                 -- UUID hex
    name        text NOT NULL UNIQUE,
    severity    text NOT NULL CHECK (severity IN ('info', 'detain', 'deny')),
    active      boolean NOT NULL DEFAULT true,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sync_version bigint NOT NULL DEFAULT nextval('sync_version_seq')
);

CREATE TABLE watchlist_entries (
    id          text PRIMARY KEY,                 -- UUID hex
    list_id     text NOT NULL REFERENCES watchlists (id),
    label       text NOT NULL,
    id_hash     bytea,                            -- HMAC of an ID number, never the number itself
    encoding    bytea NOT NULL CHECK (length(encoding) = 1024),  -- 128 little-endian float64
    added_by    text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz,
    sync_version bigint NOT NULL DEFAULT nextval('sync_version_seq')
);
CREATE INDEX watchlist_entries_list ON watchlist_entries (list_id);
CREATE INDEX watchlist_entries_sync ON watchlist_entries (sync_version);

-- A gate's 1:N candidate, stored once per (gate event, entry): a replayed report changes nothing.
CREATE TABLE watchlist_hits (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL,
    gate_id     text NOT NULL,
    at          timestamptz NOT NULL,
    list_id     text NOT NULL,
    entry_id    text NOT NULL,
    severity    text NOT NULL,
    distance    real NOT NULL,
    ticket_id   text,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (event_id, entry_id)
);
CREATE INDEX watchlist_hits_at ON watchlist_hits (at);
