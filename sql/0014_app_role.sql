-- Least privilege for the command server, and an audit log nobody can empty.
--
-- The embedded server (command/db/embedded.py) creates the login role eventguard_app, without
-- superuser, and the command server connects as it; migrations run as the owner. This grants
-- eventguard_app only what the server does: it reads keys, operators and gate credentials but
-- cannot write them (tools do, as the owner), so it cannot plant a signing key or an account;
-- it appends to and reads the audit log, never updates, deletes or truncates it.
-- On a server where eventguard_app does not exist (an external DATABASE_URL), nothing is
-- granted: the server runs as whatever role that URL names.

-- TRUNCATE skips row triggers: refuse it with a statement trigger (for the owner too).
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    GRANT USAGE ON SCHEMA public TO eventguard_app;
    -- read only: written by the tools (eventguard keys/operators/gates/register) as the owner
    GRANT SELECT ON schema_migrations, event_keys, operators, gate_credentials, registrations
        TO eventguard_app;
    -- append only
    GRANT SELECT, INSERT ON audit_log, gate_events, rejected_events, watchlist_hits TO eventguard_app;
    -- the server's own state
    GRANT SELECT, INSERT, UPDATE ON zones, gates, zone_counters, gate_counters, alerts, incidents, units,
        orders, watchlists, watchlist_entries TO eventguard_app;
    -- presence (0007), the event binding (0010), entry open/closed (0011), the peer key (0012)
    GRANT SELECT, INSERT, UPDATE ON presence, event_binding, event_entry TO eventguard_app;
    GRANT SELECT, INSERT ON event_peer_keys TO eventguard_app;
    GRANT SELECT, UPDATE ON tickets TO eventguard_app;  -- revocation
    GRANT SELECT, INSERT, DELETE ON sessions TO eventguard_app;
    GRANT USAGE, SELECT ON SEQUENCE sync_version_seq, audit_log_id_seq, rejected_events_id_seq,
        watchlist_hits_id_seq, incidents_id_seq, orders_id_seq TO eventguard_app;
END $$;
