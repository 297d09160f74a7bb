-- Watchlists reach the gates through the incremental list sync (see 0002 for the discipline).
--
-- An entry is numbered from sync_version_seq, under the shared advisory lock (sync_number()),
-- when it is inserted, removed (removed_at set) or its encoding changes. Deactivating,
-- reactivating or re-grading a list (watchlists.active, watchlists.severity) renumbers the list
-- and every current entry of it, in the same transaction and under the same lock, so the sync
-- reader sends those entries again: as removed while the list is inactive, as added (with the
-- new severity) when it is active. The column defaults of 0003 (nextval without the lock) are
-- overridden by these triggers, so every number is taken under the lock.
--
-- Watchlists are venue-wide, not per event: the notification payload is '*', which wakes the
-- gates of every event (the command server's SyncFeed wakes all gate connections on it).

CREATE FUNCTION watch_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eventguard_sync', '*');
    RETURN NULL;
END $$;

-- A list's state changed: renumber its current entries (under the shared lock, like
-- sync_number(); the BEFORE trigger on the watchlists row took it already in this transaction).
CREATE FUNCTION watch_list_renumber() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1162301252, 2);  -- 'EGRD', sync
    UPDATE watchlist_entries SET sync_version = nextval('sync_version_seq')
        WHERE list_id = NEW.id AND removed_at IS NULL;
    PERFORM pg_notify('eventguard_sync', '*');  -- also for a list with no entries
    RETURN NULL;
END $$;

CREATE TRIGGER watchlist_entries_number BEFORE INSERT ON watchlist_entries
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER watchlist_entries_renumber BEFORE UPDATE ON watchlist_entries
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR OLD.encoding IS DISTINCT FROM NEW.encoding
                       OR OLD.list_id IS DISTINCT FROM NEW.list_id)
    EXECUTE FUNCTION sync_number();
CREATE TRIGGER watchlist_entries_notify AFTER INSERT ON watchlist_entries
    FOR EACH ROW EXECUTE FUNCTION watch_notify();
CREATE TRIGGER watchlist_entries_renotify AFTER UPDATE ON watchlist_entries
    FOR EACH ROW WHEN (OLD.sync_version IS DISTINCT FROM NEW.sync_version)
    EXECUTE FUNCTION watch_notify();

CREATE TRIGGER watchlists_number BEFORE INSERT ON watchlists
    FOR EACH ROW EXECUTE FUNCTION sync_number();
CREATE TRIGGER watchlists_renumber BEFORE UPDATE ON watchlists
    FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active OR OLD.severity IS DISTINCT FROM NEW.severity)
    EXECUTE FUNCTION sync_number();
CREATE TRIGGER watchlists_entries_renumber AFTER UPDATE ON watchlists
    FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active OR OLD.severity IS DISTINCT FROM NEW.severity)
    EXECUTE FUNCTION watch_list_renumber();
