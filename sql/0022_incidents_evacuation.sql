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
