-- Face embeddings sealed at rest (issue 17): a dump of the database holds no usable biometrics.
--
-- encoding_sealed: the embedding (the model's dim little-endian float64) sealed with AES-256-GCM
-- under the photo key, a 0600 file outside the database (command/face_seal.py); the associated
-- data names the row and the model ("face:registration:<id>:<model_id>"), so a sealed embedding
-- copied to another row, or relabelled with another model, does not open.
--
-- Existing clear rows cannot be converted here (the key is not in the database): the command
-- server seals them at start, and `eventguard db seal-encodings` does it on demand, in batches,
-- resumably (command/face_seal.py seal_clear_rows). Until a row is converted its clear
-- `encoding` is read as before; a row never holds both.
--
-- Sealing a clear row (same face, same model) is not news for gates: the renumber triggers
-- skip exactly that change, so the conversion does not resend every face to every gate.

ALTER TABLE registrations ADD COLUMN encoding_sealed bytea
    CHECK (length(encoding_sealed) BETWEEN 48 AND 16424);  -- 4 magic + 8 key id + 12 nonce + 8..16384 + 16 tag
ALTER TABLE registrations ADD CONSTRAINT registrations_one_encoding
    CHECK (encoding IS NULL OR encoding_sealed IS NULL);
ALTER TABLE registrations DROP CONSTRAINT registrations_erased_only_removed;
ALTER TABLE registrations ADD CONSTRAINT registrations_erased_only_removed
    CHECK (encoding IS NOT NULL OR encoding_sealed IS NOT NULL OR removed_at IS NOT NULL);

ALTER TABLE watchlist_entries ADD COLUMN encoding_sealed bytea
    CHECK (length(encoding_sealed) BETWEEN 48 AND 16424);
ALTER TABLE watchlist_entries ADD CONSTRAINT watchlist_entries_one_encoding
    CHECK (encoding IS NULL OR encoding_sealed IS NULL);
ALTER TABLE watchlist_entries DROP CONSTRAINT watchlist_entries_erased_only_removed;
ALTER TABLE watchlist_entries ADD CONSTRAINT watchlist_entries_erased_only_removed
    CHECK (encoding IS NOT NULL OR encoding_sealed IS NOT NULL OR removed_at IS NOT NULL);

DROP TRIGGER registrations_renumber ON registrations;
CREATE TRIGGER registrations_renumber BEFORE UPDATE ON registrations
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR ((OLD.encoding IS DISTINCT FROM NEW.encoding
                            OR OLD.encoding_sealed IS DISTINCT FROM NEW.encoding_sealed)
                           AND NOT (OLD.encoding IS NOT NULL AND OLD.encoding_sealed IS NULL
                                    AND NEW.encoding IS NULL AND NEW.encoding_sealed IS NOT NULL))
                       OR OLD.model_id IS DISTINCT FROM NEW.model_id
                       OR OLD.entrances IS DISTINCT FROM NEW.entrances
                       OR OLD.screening_hold IS DISTINCT FROM NEW.screening_hold)
    EXECUTE FUNCTION sync_number();

DROP TRIGGER watchlist_entries_renumber ON watchlist_entries;
CREATE TRIGGER watchlist_entries_renumber BEFORE UPDATE ON watchlist_entries
    FOR EACH ROW WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
                       OR ((OLD.encoding IS DISTINCT FROM NEW.encoding
                            OR OLD.encoding_sealed IS DISTINCT FROM NEW.encoding_sealed)
                           AND NOT (OLD.encoding IS NOT NULL AND OLD.encoding_sealed IS NULL
                                    AND NEW.encoding IS NULL AND NEW.encoding_sealed IS NOT NULL))
                       OR OLD.model_id IS DISTINCT FROM NEW.model_id
                       OR OLD.list_id IS DISTINCT FROM NEW.list_id)
    EXECUTE FUNCTION sync_number();

-- The app role already reads registrations and reads and writes watchlist_entries table-wide
-- (0014), so it writes sealed entries and reads both columns; it gets nothing on registrations'
-- encodings (the tools write them as the owner). The key is a file, never in a table.
