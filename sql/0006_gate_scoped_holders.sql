-- A gate receives only the face encodings of holders it may admit: registrations whose
-- entrances are empty (every gate) or name that gate (eventguard/sync.py). A change of a
-- registration's entrances is therefore news for gates: it is renumbered like a removal, so
-- the gate it no longer names gets `holder_removed` and a gate it now names gets the encoding.
-- Tickets bound to a holder stay within the holder's entrances (eventguard/ticketing.issue).

DROP TRIGGER registrations_renumber ON registrations;
CREATE TRIGGER registrations_renumber BEFORE UPDATE ON registrations
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR OLD.encoding IS DISTINCT FROM NEW.encoding
                       OR OLD.entrances IS DISTINCT FROM NEW.entrances)
    EXECUTE FUNCTION sync_number();
