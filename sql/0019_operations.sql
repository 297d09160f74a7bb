-- Command operations (issue 20): units of every kind an event uses, responders that sign in as
-- their unit, and orders that remember the alert they carry out.
--
-- Units: external agencies join the event's own teams (ambulance from a hospital, traffic
-- police, transit); each unit has capabilities (what it can do: first_aid, stretcher, crowd,
-- arrest, fire_suppression, ...), a home zone and position, its current zone (for walking
-- distances over the zone graph), a shift (HH:MM-HH:MM, empty when always on), and is retired
-- rather than deleted so its orders and audit rows keep pointing at it.
ALTER TABLE units DROP CONSTRAINT units_kind_check;
ALTER TABLE units
    ADD CONSTRAINT units_kind_check CHECK (kind IN ('steward', 'police', 'medic', 'fire',
                                                    'ambulance', 'traffic_police', 'transit')),
    ADD COLUMN capabilities text[] NOT NULL DEFAULT '{}',
    ADD COLUMN agency       text NOT NULL DEFAULT '',
    ADD COLUMN home_zone    text,
    ADD COLUMN home_x       double precision,
    ADD COLUMN home_y       double precision,
    ADD COLUMN zone         text,
    ADD COLUMN shift        text NOT NULL DEFAULT '',
    ADD COLUMN retired_at   timestamptz,
    ADD CONSTRAINT units_shift_form CHECK (shift = '' OR shift ~ '^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$'),
    ADD CONSTRAINT units_short CHECK (length(id) <= 40 AND length(name) <= 80 AND length(agency) <= 80
                                      AND cardinality(capabilities) <= 16);

-- A responder's phone signs in with a token a commander issued for one unit; only its hash is
-- kept, re-issuing replaces it (the old phone is signed out), retiring the unit removes it.
CREATE TABLE unit_credentials (
    unit_id     text PRIMARY KEY REFERENCES units (id),
    token_hash  bytea NOT NULL UNIQUE,
    issued_by   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The alert an order carries out (one click from an alert's suggestion to its order).
ALTER TABLE orders ADD COLUMN alert_id bigint;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    -- units and orders are already the server's (0014); their new columns come with the table.
    -- Unit tokens are issued by a commander through the server, so the server writes them.
    GRANT SELECT, INSERT, UPDATE, DELETE ON unit_credentials TO eventguard_app;
END $$;
