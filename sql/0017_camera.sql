-- Crowd sensing (issue 18): camera credentials, per-interval zone estimates and counting-line
-- transfers. A report is stored once (report_id = camera id + nonce; a replay from the camera's
-- journal is a duplicate); its line transfers move zone_counters in the same transaction.

CREATE TABLE camera_credentials (
    camera_id   text PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE camera_reports (
    report_id   text PRIMARY KEY,
    camera_id   text NOT NULL,
    at          timestamptz NOT NULL,              -- end of the interval, camera clock
    interval_s  real NOT NULL CHECK (interval_s > 0),
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX camera_reports_camera ON camera_reports (camera_id, at);

CREATE TABLE camera_estimates (
    report_id   text NOT NULL REFERENCES camera_reports (report_id),
    zone_id     text NOT NULL REFERENCES zones (id),
    people      real NOT NULL CHECK (people >= 0),
    density     real NOT NULL CHECK (density >= 0),
    area_m2     real NOT NULL CHECK (area_m2 > 0),
    PRIMARY KEY (report_id, zone_id)
);

CREATE TABLE line_transfers (
    report_id   text NOT NULL REFERENCES camera_reports (report_id),
    line_id     text NOT NULL,
    zone_from   text NOT NULL REFERENCES zones (id),
    zone_to     text NOT NULL REFERENCES zones (id),
    people      integer NOT NULL CHECK (people > 0),
    PRIMARY KEY (report_id, line_id, zone_from)
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'eventguard_app') THEN
        RAISE NOTICE 'role eventguard_app does not exist: no grants';
        RETURN;
    END IF;
    -- read only: camera tokens are issued by the tools (eventguard cameras token) as the owner
    GRANT SELECT ON camera_credentials TO eventguard_app;
    -- append only: what the cameras saw
    GRANT SELECT, INSERT ON camera_reports, camera_estimates, line_transfers TO eventguard_app;
END $$;
