-- Screening review (issue 17): every 1:N candidate — a gate's hit or a registrant's — waits in
-- one queue for a commander or operator to confirm or dismiss it; nothing is decided by the
-- match alone. The decision, who made it and when, and the time from hit to decision are kept.

-- what the gate saw and the threshold it was screened against (the capture: a small JPEG crop
-- of the face, sealed with the photo key like enrolment photos, command/photo_seal.py)
ALTER TABLE watchlist_hits ADD COLUMN threshold double precision, ADD COLUMN capture bytea;

-- a gate order to hold a person for the unit on its way (confirmed screening hit)
ALTER TABLE orders DROP CONSTRAINT orders_kind_check;
ALTER TABLE orders ADD CONSTRAINT orders_kind_check
    CHECK (kind IN ('dispatch', 'close_lane', 'open_lane', 'divert', 'hold_person'));

CREATE TABLE screening_cases (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL CHECK (source IN ('gate', 'registration')),
    hit_id          bigint UNIQUE REFERENCES watchlist_hits (id),
    registration_id text REFERENCES registrations (registration_id),
    entry_id        text NOT NULL,
    list_id         text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'detain', 'deny')),
    basis           text NOT NULL DEFAULT 'face' CHECK (basis IN ('face', 'id_number')),
    distance        real NOT NULL,
    threshold       double precision,  -- the screen threshold in force where it was found
    gate_id         text,                      -- gate hits
    found_at        timestamptz NOT NULL,      -- the gate's capture time, or the pre-screening run
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
    decided_by      text,
    decided_role    text,
    decided_at      timestamptz,
    reason          text,
    decision_s      double precision,          -- found_at -> decided_at
    incident_id     bigint REFERENCES incidents (id),
    order_ids       bigint[] NOT NULL DEFAULT '{}',
    UNIQUE (registration_id, entry_id),        -- a registrant is put to a reviewer once per entry
    CHECK ((source = 'gate') = (hit_id IS NOT NULL)),
    CHECK ((source = 'registration') = (registration_id IS NOT NULL)),
    CHECK ((status = 'open') = (decided_at IS NULL))
);
CREATE INDEX screening_cases_status ON screening_cases (status, found_at);
CREATE INDEX screening_cases_entry ON screening_cases (entry_id, found_at);

-- Registrant pre-screening: a registration with an open (or confirmed) case is held — its
-- ticket is not issued, and its face is withheld from the gates' list sync so that a ticket
-- issued before goes to a steward — until a reviewer dismisses every case of it.
ALTER TABLE registrations ADD COLUMN screening_hold boolean NOT NULL DEFAULT false;
DROP TRIGGER registrations_renumber ON registrations;
CREATE TRIGGER registrations_renumber BEFORE UPDATE ON registrations
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR OLD.encoding IS DISTINCT FROM NEW.encoding
                       OR OLD.model_id IS DISTINCT FROM NEW.model_id
                       OR OLD.entrances IS DISTINCT FROM NEW.entrances
                       OR OLD.screening_hold IS DISTINCT FROM NEW.screening_hold)
    EXECUTE FUNCTION sync_number();

-- Each pre-screening run: what it compared (the report counts registrants screened from it).
CREATE TABLE screening_runs (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    cause         text NOT NULL,               -- import, watchlist_change, manual
    actor         text NOT NULL,
    model_id      text NOT NULL,
    registrations integer NOT NULL,
    entries       integer NOT NULL,
    candidates    integer NOT NULL              -- new cases opened by this run
);
CREATE INDEX screening_runs_event ON screening_runs (event_id, at);

-- Governance: who answers for a watchlist entry, on what legal basis, until when. A removed or
-- expired entry keeps its row (cases and audit refer to it) but loses its biometrics; so does a
-- registration after `eventguard privacy purge` (command/privacy.py).
ALTER TABLE watchlist_entries ADD COLUMN owner text, ADD COLUMN legal_basis text,
    ADD COLUMN expires_at timestamptz, ADD COLUMN removed_by text, ADD COLUMN removal_reason text;
ALTER TABLE watchlist_entries ALTER COLUMN encoding DROP NOT NULL;
ALTER TABLE watchlist_entries ADD CONSTRAINT watchlist_entries_erased_only_removed
    CHECK (encoding IS NOT NULL OR removed_at IS NOT NULL);
CREATE INDEX watchlist_entries_expiry ON watchlist_entries (expires_at) WHERE removed_at IS NULL;
ALTER TABLE registrations ALTER COLUMN encoding DROP NOT NULL;
ALTER TABLE registrations ADD CONSTRAINT registrations_erased_only_removed
    CHECK (encoding IS NOT NULL OR removed_at IS NOT NULL);

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE ON screening_cases TO eventguard_app;
    GRANT SELECT, INSERT ON screening_runs TO eventguard_app;
    GRANT UPDATE (screening_hold) ON registrations TO eventguard_app;  -- hold and release, nothing else
    GRANT USAGE, SELECT ON SEQUENCE screening_cases_id_seq, screening_runs_id_seq TO eventguard_app;
END $$;
