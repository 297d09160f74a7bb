-- Command operations (issue 20, second part): incidents as a board and evacuation.
--
-- Incidents close with an outcome from a closed vocabulary (eventguard/codes.py IncidentOutcome)
-- and remember who closed them; their timeline is read from the audit log and the orders that
-- carry their id (command/incidents.py), so nothing else is stored for it.
ALTER TABLE incidents
    ADD COLUMN outcome   text,
    ADD COLUMN closed_by text,
    ADD CONSTRAINT incidents_outcome_known CHECK (outcome IS NULL OR outcome IN (
        'resolved_on_site', 'treated_on_site', 'transported', 'handed_to_police', 'person_removed',
        'false_alarm', 'duplicate', 'no_action_needed'));
-- Incidents closed before this migration have no outcome; NOT VALID keeps them as they are and
-- holds every row written from now on.
ALTER TABLE incidents
    ADD CONSTRAINT incidents_closed_with_outcome CHECK (status = 'open' OR outcome IS NOT NULL) NOT VALID;
CREATE INDEX orders_incident ON orders (incident_id) WHERE incident_id IS NOT NULL;

-- Evacuation: a commander declares it for zones (empty: the whole venue) after a two-step
-- confirmation, and ends it; both audited. Like event_entry (0011) the state is numbered and
-- notified like every list change, so each gate of an evacuated zone learns it through the list
-- sync (free exit without ticket checks, entries refused) and keeps it across restarts and outages.
CREATE TABLE event_evacuation (
    event_id     text PRIMARY KEY,
    active       boolean NOT NULL,
    zones        text[] NOT NULL DEFAULT '{}',
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    declared_by  text NOT NULL,
    declared_at  timestamptz NOT NULL DEFAULT now(),
    ended_by     text,
    ended_at     timestamptz,
    start_occupancy jsonb NOT NULL DEFAULT '{}',  -- people per zone at the declaration (progress)
    sync_version bigint NOT NULL DEFAULT 0,
    CONSTRAINT event_evacuation_zones_few CHECK (cardinality(zones) <= 64)
);

CREATE TRIGGER event_evacuation_number BEFORE INSERT ON event_evacuation
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER event_evacuation_renumber BEFORE UPDATE ON event_evacuation
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER event_evacuation_notify AFTER INSERT OR UPDATE ON event_evacuation
    FOR EACH ROW EXECUTE FUNCTION sync_notify();

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    -- incidents' new columns come with the table (0014); the evacuation state is the server's
    GRANT SELECT, INSERT, UPDATE ON event_evacuation TO eventguard_app;
END $$;
