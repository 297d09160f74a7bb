-- End of event: a commander closes the event's entry (every gate goes exit-only) and may reset
-- presence (everyone counted out). The entry state is numbered and notified like every list
-- change, so gates learn it through the list sync and keep it across restarts and outages.

CREATE TABLE event_entry (
    event_id     text PRIMARY KEY,
    entry_open   boolean NOT NULL,
    changed_by   text NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    sync_version bigint NOT NULL DEFAULT 0
);

CREATE TRIGGER event_entry_number BEFORE INSERT ON event_entry
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER event_entry_renumber BEFORE UPDATE ON event_entry
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER event_entry_notify AFTER INSERT OR UPDATE ON event_entry
    FOR EACH ROW EXECUTE FUNCTION sync_notify();
