-- The daily rollup takes the projector's changes as appended delta rows (`pending`), merged into
-- one row per key by a compaction step (ingest/rollup_compaction.py) every few seconds. Every reader
-- sums dossier_daily over the rows of a key anyway, so a pending row counts from the moment it is
-- committed: answers stay exact and immediate. What changes is the cost of a write: appending a
-- row by binary COPY costs a fraction of an upsert (ON CONFLICT probes and locks the key's row,
-- and concurrent batches queue on the rows of the same busy commune-day).
--
-- Invariant: at most one row per key is not pending; only the compaction writes such rows, one
-- compaction at a time (an advisory lock).
ALTER TABLE dossier_daily DROP CONSTRAINT dossier_daily_pkey;
ALTER TABLE dossier_daily ADD COLUMN pending boolean NOT NULL DEFAULT false;
-- The same key order as the primary key had: it serves every reader as before.
CREATE INDEX dossier_daily_key_idx ON dossier_daily (day, province_code, commune_code, agency_code, sector);
-- Only the rows waiting for compaction: small, and it lets the compaction find them without a scan.
CREATE INDEX dossier_daily_pending_idx ON dossier_daily (day) WHERE pending;

-- The projector's session staging is only for dossier states now.
CREATE OR REPLACE FUNCTION ioc_prepare_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('pg_temp.dossier_stage') AND attname = 'rating' AND NOT attisdropped
    ) THEN
        DROP TABLE IF EXISTS pg_temp.dossier_stage;
        CREATE TEMP TABLE dossier_stage (LIKE dossier INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
    DROP TABLE IF EXISTS pg_temp.dossier_daily_stage;
END
$$;
