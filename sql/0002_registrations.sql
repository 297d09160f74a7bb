-- Real-name registration (实名制) and the incremental list sync to gates.
--
-- Sync versions: every change a gate must learn (a registration added or removed, a ticket
-- revoked) takes a number from sync_version_seq. A sequence alone is not enough: a writer that
-- took number 7 may commit after one that took 8, and a gate that already has 8 would never
-- see 7. So writers take a shared advisory lock before numbering (held to commit) and the sync
-- reader takes it exclusively before it reads: everything numbered before the read has then
-- committed, and everything numbered after gets a larger number.
-- Every such change also does pg_notify('eventguard_sync', event_id) (deduplicated per
-- transaction by PostgreSQL) so the command server pushes it to connected gates at once.

CREATE TABLE registrations (
    registration_id text PRIMARY KEY,                       -- UUID hex; a ticket's holder_ref
    event_id    text NOT NULL,
    id_hmac     bytea NOT NULL CHECK (length(id_hmac) = 32), -- HMAC-SHA256 of the ID number
    id_last4    text NOT NULL CHECK (length(id_last4) <= 4), -- for display only
    name        text NOT NULL,
    ticket_type text NOT NULL,
    entrances   text[] NOT NULL DEFAULT '{}',
    photo       text NOT NULL,                              -- source file name, not the image
    encoding    float8[] NOT NULL CHECK (cardinality(encoding) = 128),
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz,
    sync_version bigint NOT NULL DEFAULT 0,
    UNIQUE (event_id, id_hmac)
);
CREATE INDEX registrations_sync ON registrations (event_id, sync_version);

CREATE FUNCTION sync_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1162301252, 2);  -- 'EGRD', sync
    NEW.sync_version := nextval('sync_version_seq');
    RETURN NEW;
END $$;

CREATE FUNCTION sync_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eventguard_sync', NEW.event_id);
    RETURN NULL;
END $$;

CREATE TRIGGER registrations_number BEFORE INSERT ON registrations
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER registrations_renumber BEFORE UPDATE ON registrations
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR OLD.encoding IS DISTINCT FROM NEW.encoding)
    EXECUTE FUNCTION sync_number();
CREATE TRIGGER registrations_notify AFTER INSERT OR UPDATE ON registrations
    FOR EACH ROW EXECUTE FUNCTION sync_notify();

-- Tickets: only a revocation is news for gates (a new ticket verifies by its signature).
CREATE TRIGGER tickets_renumber BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION sync_number();
CREATE TRIGGER tickets_notify AFTER UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION sync_notify();

-- A new public key is sent to gates too (keys travel whole in every sync message).
CREATE TRIGGER event_keys_notify AFTER INSERT ON event_keys
    FOR EACH ROW EXECUTE FUNCTION sync_notify();
