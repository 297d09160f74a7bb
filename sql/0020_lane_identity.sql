-- Lost or stolen tickets (issue 15): a ticket can be reissued — revoked, and a new ticket for the
-- same registration (holder, kind, entrances, window) issued in the same transaction. Gates learn
-- the kind of a revocation with the list sync, so the old ticket is refused as `ticket_reissued`,
-- not as a plain revocation, and the steward can tell the person why.
-- revoke_kind NULL on a revoked ticket means a plain revocation (rows before this migration, and
-- every other way of revoking).
ALTER TABLE tickets
    ADD COLUMN revoke_kind text CHECK (revoke_kind IN ('revoked', 'reissued')),
    ADD COLUMN reissued_as text REFERENCES tickets (ticket_id),
    ADD CONSTRAINT tickets_reissue_named CHECK (
        (revoke_kind = 'reissued') = (reissued_as IS NOT NULL) AND (revoke_kind IS NULL OR revoked_at IS NOT NULL));
CREATE UNIQUE INDEX tickets_reissued_as ON tickets (reissued_as) WHERE reissued_as IS NOT NULL;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    -- the server issues the replacement ticket (POST /api/tickets/{id}/reissue, audited); it
    -- already revokes (UPDATE, 0014)
    GRANT INSERT ON tickets TO eventguard_app;
END $$;
