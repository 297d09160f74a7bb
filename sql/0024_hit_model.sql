-- issue 13: a watchlist hit names the face model of the live embedding that made it
-- (vision.engine.EngineSpec.model_id). The server refuses a hit whose model is not the entry's
-- (command/service.py); NULL: reported by a gate from before this column.
ALTER TABLE watchlist_hits ADD COLUMN model_id text;
