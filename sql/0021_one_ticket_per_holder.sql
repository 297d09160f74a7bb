-- One ticket per ID per event (人证票合一): a registration (one per ID number and event, by its
-- keyed hash) holds at most one ticket that is not revoked. A lost ticket is reissued (the old
-- one revoked as 'reissued' in the same transaction), never issued a second time. Tickets
-- issued twice before this migration: all but the newest are revoked, each with an audit row.
WITH ranked AS (
    SELECT ticket_id, row_number() OVER (PARTITION BY event_id, holder_ref ORDER BY issued_at DESC, ticket_id) AS n
      FROM tickets WHERE holder_ref IS NOT NULL AND revoked_at IS NULL
), revoked AS (
    UPDATE tickets t SET revoked_at = now(), revoke_reason = 'a second ticket of the same holder (migration 0021)', revoke_kind = 'revoked',
           sync_version = nextval('sync_version_seq')
      FROM ranked r WHERE r.ticket_id = t.ticket_id AND r.n > 1
    RETURNING t.ticket_id, t.holder_ref
)
INSERT INTO audit_log (actor, role, action, subject, details)
SELECT 'migration 0021', 'system', 'ticket_revoke', ticket_id,
       jsonb_build_object('reason', 'one ticket per holder', 'holder_ref', holder_ref)
  FROM revoked;

CREATE UNIQUE INDEX tickets_one_per_holder ON tickets (event_id, holder_ref)
    WHERE holder_ref IS NOT NULL AND revoked_at IS NULL;
