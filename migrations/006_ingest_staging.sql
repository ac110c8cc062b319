-- Session-local staging tables for the writer: rows arrive by binary COPY (fast, in C) and are
-- merged with one set-based upsert. Created per connection through this function so that table
-- DDL stays in migrations; emptied at every commit.
CREATE FUNCTION ioc_prepare_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.dossier_stage') IS NULL THEN
        CREATE TEMP TABLE dossier_stage (LIKE dossier INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE dossier_daily_stage (LIKE dossier_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
END
$$;

-- The primary key (day, province_code, commune_code) already serves every status query (recent
-- days, all provinces or one); a second index only doubled the cost of each rollup write.
DROP INDEX dossier_daily_province_idx;
