-- Reports provinces publish: the monthly list of late agencies and officials, the monthly briefing.
--
-- 1. The official handling a dossier (cán bộ xử lý). Events may name one (`handler` in the ingest
--    API); the event log keeps it so that a refold from history gives the same state, and the
--    dossier state keeps the latest one named while the dossier was open (ingest/lifecycle.py).
--    Nullable columns without a default: a catalogue change only, on partitions and hypertables.
ALTER TABLE dossier_event ADD COLUMN handler_code text, ADD COLUMN handler_name text;
ALTER TABLE dossier ADD COLUMN handler_code text, ADD COLUMN handler_name text;

-- Dossiers closed after their deadline (resolved late, rejected or withdrawn late): a few per cent
-- of all. The late list reads a province's month of them by closing time, and those overdue at a
-- month's end that closed later, from this small index instead of the whole province.
-- (`closed_at IS NOT NULL` always holds with late_since; it is in the predicate so that only a query
-- bounding closed_at can use the index: the status and alert queries keep their own indexes.)
CREATE INDEX dossier_late_idx ON dossier (province_code, closed_at)
    WHERE late_since IS NOT NULL AND closed_at IS NOT NULL;

-- The writer stages dossier rows in a session table made `LIKE dossier`: a session that staged
-- before this migration holds the old shape, so it is made again once.
CREATE OR REPLACE FUNCTION ioc_prepare_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('pg_temp.dossier_stage') AND attname = 'handler_code' AND NOT attisdropped
    ) THEN
        DROP TABLE IF EXISTS pg_temp.dossier_stage;
        CREATE TEMP TABLE dossier_stage (LIKE dossier INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('pg_temp.dossier_daily_stage') AND attname = 'sector' AND NOT attisdropped
    ) THEN
        DROP TABLE IF EXISTS pg_temp.dossier_daily_stage;
        CREATE TEMP TABLE dossier_daily_stage (LIKE dossier_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
END
$$;

-- 2. Generated report files: the scheduled run on the 1st of each month writes the previous
--    month's reports for every province (one row per province, kind, month and format; a second
--    run finds them there and writes nothing).
CREATE TABLE report_file (
    id             bigserial PRIMARY KEY,
    province_code  text NOT NULL REFERENCES locality (code),
    kind           text NOT NULL CHECK (kind IN ('late_list', 'briefing')),
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    format         text NOT NULL CHECK (format IN ('xlsx', 'pdf')),
    content        bytea NOT NULL,
    size_bytes     integer NOT NULL,
    generated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (province_code, kind, month, format)
);
CREATE INDEX report_file_month_idx ON report_file (month DESC, province_code);
