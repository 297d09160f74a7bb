-- Command center: alerts (with lifecycle), incidents, units, orders with acknowledgement.

CREATE TABLE alerts (
    id          bigint PRIMARY KEY,            -- assigned by the alert book (monotonic)
    kind        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('info', 'warning', 'critical')),
    subject     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('raised', 'acknowledged', 'resolved')),
    raised_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    value       double precision,
    details     jsonb NOT NULL DEFAULT '{}',
    acknowledged_by text,
    acknowledged_at timestamptz,
    resolved_by text,
    resolved_at timestamptz
);
CREATE INDEX alerts_open ON alerts (status) WHERE status <> 'resolved';

CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,                 -- crush, medical, fight, fire, suspicious, other
    severity    text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    location    text NOT NULL,                 -- zone or gate id
    x           double precision,
    y           double precision,
    note        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    alert_ids   bigint[] NOT NULL DEFAULT '{}',
    opened_by   text NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);

CREATE TABLE units (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('steward', 'police', 'medic', 'fire')),
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'dispatched', 'busy', 'off')),
    x           double precision,
    y           double precision,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Orders go to a unit (dispatch) or to a gate (close/open lane, divert); the receiver acks.
CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('dispatch', 'close_lane', 'open_lane', 'divert')),
    target      text NOT NULL,                 -- unit id or gate id
    location    text,                          -- where the unit goes (zone/gate id)
    params      jsonb NOT NULL DEFAULT '{}',
    note        text NOT NULL DEFAULT '',
    incident_id bigint REFERENCES incidents (id),
    status      text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'acknowledged', 'escalated', 'cancelled')),
    issued_by   text NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    ack_by      text,
    ack_at      timestamptz,
    escalated_at timestamptz
);
CREATE INDEX orders_pending ON orders (status, issued_at) WHERE status = 'sent';
