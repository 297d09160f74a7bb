-- Secondary checks resolved by a steward at the gate terminal (issue 15; gate/checks.py).
--
-- Steward PINs: one per steward and gate, issued by `eventguard gates pin GATE --steward NAME`
-- (as the owner; the command server only reads them). Only a salted scrypt hash is kept
-- (eventguard/steward.py); it is synced to that gate alone, which checks sign-ins offline.
-- A new or changed PIN is numbered and notified like every list change, so the gate learns it.
CREATE TABLE steward_pins (
    event_id     text NOT NULL,
    gate_id      text NOT NULL,
    steward      text NOT NULL CHECK (length(steward) BETWEEN 1 AND 64),
    pin_hash     bytea NOT NULL CHECK (length(pin_hash) = 48),
    created_at   timestamptz NOT NULL DEFAULT now(),
    sync_version bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, gate_id, steward)
);
CREATE TRIGGER steward_pins_number BEFORE INSERT OR UPDATE ON steward_pins
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER steward_pins_notify AFTER INSERT OR UPDATE ON steward_pins
    FOR EACH ROW EXECUTE FUNCTION sync_notify();

-- A steward's call for a supervisor is a gate event too (kind 'escalated', counted nowhere);
-- admit and refuse are an 'entry' and a 'deny' carrying the steward (audited at ingest).
ALTER TABLE gate_events DROP CONSTRAINT gate_events_kind_check;
ALTER TABLE gate_events ADD CONSTRAINT gate_events_kind_check
    CHECK (kind IN ('entry', 'exit', 'deny', 'secondary', 'transfer', 'escalated'));

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    GRANT SELECT ON steward_pins TO eventguard_app;  -- read only: written by the CLI as the owner
END $$;
