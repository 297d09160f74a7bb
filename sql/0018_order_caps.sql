-- Orders are capped at the REST door (eventguard/wire.py OrderBody: target and location <= 80
-- characters, note <= 1000, params at most 16 small flat values), but orders stored before the
-- caps could carry megabytes; resent to a gate on every connect, one knocked the gate offline in a
-- reconnect loop. The table now refuses them whatever writes it; the ones already stored are
-- cut to the caps, and those still pending are cancelled, each with an audit row.
WITH bad AS (
    SELECT id, status, octet_length(params::text) AS params_bytes, length(note) AS note_chars
      FROM orders
     WHERE jsonb_typeof(params) <> 'object' OR octet_length(params::text) > 8192
        OR length(note) > 1000 OR length(target) > 80 OR length(coalesce(location, '')) > 80
), fixed AS (
    UPDATE orders o
       SET params = CASE WHEN jsonb_typeof(o.params) <> 'object' OR octet_length(o.params::text) > 8192
                         THEN '{}'::jsonb ELSE o.params END,
           note = left(o.note, 1000),
           target = left(o.target, 80),
           location = left(o.location, 80),
           status = CASE WHEN o.status IN ('sent', 'escalated') THEN 'cancelled' ELSE o.status END
      FROM bad WHERE o.id = bad.id
    RETURNING o.id
)
INSERT INTO audit_log (actor, role, action, subject, details)
SELECT 'migration 0018', 'system', 'order_capped', bad.id::text,
       jsonb_build_object('reason', 'stored before the order caps', 'was_status', bad.status,
                          'params_bytes', bad.params_bytes, 'note_chars', bad.note_chars)
  FROM bad JOIN fixed ON fixed.id = bad.id;

ALTER TABLE orders
    ADD CONSTRAINT orders_params_small CHECK (jsonb_typeof(params) = 'object' AND octet_length(params::text) <= 8192),
    ADD CONSTRAINT orders_note_short CHECK (length(note) <= 1000),
    ADD CONSTRAINT orders_target_short CHECK (length(target) <= 80 AND length(coalesce(location, '')) <= 80);
