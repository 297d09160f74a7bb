-- Face embeddings carry the model that made them, and the photos they came from are kept
-- (sealed) so that a change of model can re-enrol everyone.
--
-- model_id: vision.engine.EngineSpec.model_id ('sface-2021dec-int8bq', 'dlib-resnet-v1').
-- Rows written before this migration were made by dlib's model (the only engine until now).
-- No default afterwards: every writer names its model. The list sync sends model_id with
-- every face; a gate ignores faces of another model, and nothing compares across models.
--
-- encoding: any dimension (the model's), no longer exactly 128.
--
-- photo_sealed: the enrolment photo, AES-256-GCM sealed with a key kept outside the
-- database (a 0600 file in the key directory, command/photo_seal.py); NULL for rows made
-- before photos were kept (those cannot be re-enrolled: `eventguard faces reenrol` says so).
--
-- A change of model_id is news for gates like a change of encoding: the row is renumbered
-- (sync_number(), under the shared lock of 0002) so gates receive the new embedding.

ALTER TABLE registrations
    ADD COLUMN model_id text NOT NULL DEFAULT 'dlib-resnet-v1',
    ADD COLUMN photo_sealed bytea;
ALTER TABLE registrations ALTER COLUMN model_id DROP DEFAULT;
ALTER TABLE registrations DROP CONSTRAINT registrations_encoding_check;
ALTER TABLE registrations ADD CONSTRAINT registrations_encoding_check
    CHECK (cardinality(encoding) BETWEEN 1 AND 2048);
CREATE INDEX registrations_model ON registrations (event_id, model_id) WHERE removed_at IS NULL;

ALTER TABLE watchlist_entries
    ADD COLUMN model_id text NOT NULL DEFAULT 'dlib-resnet-v1',
    ADD COLUMN photo_sealed bytea;
ALTER TABLE watchlist_entries ALTER COLUMN model_id DROP DEFAULT;
ALTER TABLE watchlist_entries DROP CONSTRAINT watchlist_entries_encoding_check;
ALTER TABLE watchlist_entries ADD CONSTRAINT watchlist_entries_encoding_check
    CHECK (length(encoding) BETWEEN 8 AND 16384 AND length(encoding) % 8 = 0);  -- float64 LE

DROP TRIGGER registrations_renumber ON registrations;
CREATE TRIGGER registrations_renumber BEFORE UPDATE ON registrations
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR OLD.encoding IS DISTINCT FROM NEW.encoding
                       OR OLD.model_id IS DISTINCT FROM NEW.model_id
                       OR OLD.entrances IS DISTINCT FROM NEW.entrances)
    EXECUTE FUNCTION sync_number();

DROP TRIGGER watchlist_entries_renumber ON watchlist_entries;
CREATE TRIGGER watchlist_entries_renumber BEFORE UPDATE ON watchlist_entries
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR OLD.encoding IS DISTINCT FROM NEW.encoding
                       OR OLD.model_id IS DISTINCT FROM NEW.model_id
                       OR OLD.list_id IS DISTINCT FROM NEW.list_id)
    EXECUTE FUNCTION sync_number();
