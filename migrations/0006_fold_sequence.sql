-- A version number for each projected row: how many times the projector has written it.
-- The projector folds the next batch while the previous one commits, from the states it has just
-- computed and from reads made outside the write transaction; each write says which version it was
-- computed from (`UPDATE ... WHERE coalesce(fold_seq, 0) = new - 1`), so a row written meanwhile by
-- anyone else (another projector, a rebuild) is never overwritten from a stale state: the batch is
-- rolled back and folded again inside its transaction.
-- Nullable, no default: adding it does not rewrite the table; NULL reads as 0 (rows written before).
ALTER TABLE enrichment_logs ADD COLUMN IF NOT EXISTS fold_seq bigint;
