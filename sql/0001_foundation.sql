-- Foundation: venue, gate events (idempotent by event_id), counters, tickets, auth, audit.

CREATE TABLE zones (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    area_m2     double precision NOT NULL CHECK (area_m2 > 0),
    capacity    integer NOT NULL CHECK (capacity > 0),
    polygon     jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE gates (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    zone_id     text NOT NULL REFERENCES zones (id),
    lanes       integer NOT NULL CHECK (lanes > 0),
    position    jsonb NOT NULL DEFAULT '[0, 0]'
);

-- Every event a gate recorded, stored exactly once: the gate's event_id is the key.
CREATE TABLE gate_events (
    event_id    text PRIMARY KEY,
    gate_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('entry', 'exit', 'deny', 'secondary', 'transfer')),
    at          timestamptz NOT NULL,
    lane        integer NOT NULL DEFAULT 0,
    ticket_id   text,
    verdict     text,
    reasons     text[] NOT NULL DEFAULT '{}',
    zone_from   text,
    zone_to     text,
    latency_ms  real,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX gate_events_gate_at ON gate_events (gate_id, at);
CREATE INDEX gate_events_ticket ON gate_events (ticket_id) WHERE ticket_id IS NOT NULL;

-- Running counters, updated in the same transaction as the events they count.
CREATE TABLE zone_counters (
    zone_id     text PRIMARY KEY REFERENCES zones (id),
    entries     bigint NOT NULL DEFAULT 0,
    exits       bigint NOT NULL DEFAULT 0,
    transfers_in  bigint NOT NULL DEFAULT 0,
    transfers_out bigint NOT NULL DEFAULT 0
);

CREATE TABLE gate_counters (
    gate_id     text PRIMARY KEY,
    entries     bigint NOT NULL DEFAULT 0,
    exits       bigint NOT NULL DEFAULT 0,
    denies      bigint NOT NULL DEFAULT 0,
    secondary   bigint NOT NULL DEFAULT 0,
    last_event_at timestamptz
);

-- Ticketing: public keys only; private keys stay in a 0600 file on the issuing host.
CREATE TABLE event_keys (
    event_id    text NOT NULL,
    key_id      smallint NOT NULL CHECK (key_id BETWEEN 1 AND 255),
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, key_id)
);

CREATE TABLE tickets (
    ticket_id   text PRIMARY KEY,
    event_id    text NOT NULL,
    holder_ref  text,
    kind        text NOT NULL DEFAULT 'standard',
    entrances   text[] NOT NULL DEFAULT '{}',
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    issued_at   timestamptz NOT NULL,
    key_id      smallint NOT NULL,
    payload     text NOT NULL,
    revoked_at  timestamptz,
    revoke_reason text,
    -- bumped on every change a gate must learn about (incremental sync by version)
    sync_version bigint NOT NULL DEFAULT 0
);
CREATE SEQUENCE sync_version_seq;
CREATE INDEX tickets_sync ON tickets (event_id, sync_version);

-- Authentication.
CREATE TABLE operators (
    username    text PRIMARY KEY,
    password_hash text NOT NULL,
    role        text NOT NULL CHECK (role IN ('commander', 'operator', 'viewer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled    boolean NOT NULL DEFAULT false
);

CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    username    text NOT NULL REFERENCES operators (username),
    role        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE TABLE gate_credentials (
    gate_id     text PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Append-only audit log: UPDATE and DELETE are refused by a trigger.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    role        text NOT NULL,
    action      text NOT NULL,
    subject     text,
    details     jsonb NOT NULL DEFAULT '{}'
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
