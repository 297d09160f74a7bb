-- The evacuation on a channel of its own: every command server keeps the evacuation row in memory
-- and pushes live maps and responder pages from it (command/evacuation_api.py), reading the row
-- only when this says it changed (and at start, after a lost connection, on a slow safety check),
-- not every second, and not on every list change that 'eventguard_sync' carries (presence, tickets).
-- Whoever changes the row (a server, the CLI, a hand in psql) notifies; the list sync to gates
-- (0022's event_evacuation_notify) is unchanged.

CREATE FUNCTION evacuation_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eventguard_evacuation', NEW.event_id);
    RETURN NULL;
END $$;

CREATE TRIGGER event_evacuation_push AFTER INSERT OR UPDATE ON event_evacuation
    FOR EACH ROW EXECUTE FUNCTION evacuation_notify();
