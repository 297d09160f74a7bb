-- Venue-wide presence: one row per ticket that ever passed a gate of the event (see
-- eventguard/presence.py for the rule). The command server updates it in the transaction that
-- stores the gate events; every change of `inside` or `at` is numbered for the list sync and
-- notified, so every gate of the event learns it (a second entry anywhere is refused, an exit
-- is accepted at any gate). Rows are created with inside NULL and locked (in ticket order)
-- before the rule is applied, so concurrent batches for one ticket are serialised.

CREATE TABLE presence (
    event_id    text NOT NULL,
    ticket_id   text NOT NULL,
    inside      boolean,                       -- NULL: created, not yet decided
    gate_id     text,                          -- gate of the last counted change
    at          timestamptz,                   -- gate clock of the last counted change
    conflicts   integer NOT NULL DEFAULT 0,    -- second entries while inside
    sync_version bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, ticket_id)
);
CREATE INDEX presence_sync ON presence (event_id, sync_version);
CREATE INDEX presence_inside ON presence (event_id) WHERE inside;

CREATE TRIGGER presence_renumber BEFORE UPDATE ON presence
    FOR EACH ROW WHEN (OLD.inside IS DISTINCT FROM NEW.inside OR OLD.at IS DISTINCT FROM NEW.at)
    EXECUTE FUNCTION sync_number();
CREATE TRIGGER presence_notify AFTER UPDATE ON presence
    FOR EACH ROW WHEN (OLD.inside IS DISTINCT FROM NEW.inside OR OLD.at IS DISTINCT FROM NEW.at)
    EXECUTE FUNCTION sync_notify();
