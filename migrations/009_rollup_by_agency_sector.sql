-- The daily rollup gains the agency and sector dimensions, so that a scope such as "province X,
-- sector Y" (a provincial department) is answered from the rollup too. agency_code '' = dossiers
-- without an agency; like commune_code '', it never matches a scope that names agencies.
--
-- The rollup is a pure function of the `dossier` table (ingest/lifecycle.py `contributions`):
-- a receipt on the local day of received_at (online when channel = 'online'), and for resolved
-- dossiers a resolution with its outcome on the local day of resolved_at. So the new table is
-- rebuilt from `dossier` rather than converted: the old rows cannot be split by agency or sector.
DROP TABLE dossier_daily;
CREATE TABLE dossier_daily (
    day               date NOT NULL,
    province_code     text NOT NULL,
    commune_code      text NOT NULL DEFAULT '',
    agency_code       text NOT NULL DEFAULT '',
    sector            text NOT NULL DEFAULT '',
    received          integer NOT NULL DEFAULT 0,
    received_online   integer NOT NULL DEFAULT 0,
    resolved          integer NOT NULL DEFAULT 0,
    resolved_early    integer NOT NULL DEFAULT 0,
    resolved_on_time  integer NOT NULL DEFAULT 0,
    resolved_late     integer NOT NULL DEFAULT 0
);

INSERT INTO dossier_daily (day, province_code, commune_code, agency_code, sector, received, received_online,
                           resolved, resolved_early, resolved_on_time, resolved_late)
SELECT day, province_code, commune_code, agency_code, sector,
       sum(received), sum(received_online), sum(resolved), sum(resolved_early), sum(resolved_on_time),
       sum(resolved_late)
FROM (
    SELECT (received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, province_code,
           coalesce(commune_code, '') AS commune_code, coalesce(agency_code, '') AS agency_code, sector,
           1 AS received, (channel = 'online')::int AS received_online,
           0 AS resolved, 0 AS resolved_early, 0 AS resolved_on_time, 0 AS resolved_late
    FROM dossier
    UNION ALL
    SELECT (resolved_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, province_code,
           coalesce(commune_code, ''), coalesce(agency_code, ''), sector,
           0, 0, 1, (outcome = 'early')::int, (outcome = 'on_time')::int, (outcome = 'late')::int
    FROM dossier
    WHERE resolved_at IS NOT NULL AND outcome IS NOT NULL
) contributions
GROUP BY day, province_code, commune_code, agency_code, sector;

-- Built after the load: one sort instead of a row-by-row index insert. The key serves every
-- status query (recent days first); a second index would double the cost of each rollup write.
ALTER TABLE dossier_daily ADD PRIMARY KEY (day, province_code, commune_code, agency_code, sector);

-- The writer's session staging table is made `LIKE dossier_daily`: a session that staged before
-- this migration holds the old shape, so it is made again once.
CREATE OR REPLACE FUNCTION ioc_prepare_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.dossier_stage') IS NULL THEN
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
