-- Indicator history: rollups that answer hour / day / week / month buckets over a year quickly.
--
-- Dossier flows (received, resolved, outcomes) are a pure function of each dossier's current state
-- (ingest/lifecycle.py `contributions`): a receipt in the hour of received_at, a resolution with
-- its outcome in the hour of resolved_at. `dossier_daily` holds them per local day at full detail
-- (commune, agency, sector), written by the ingest writer in the same transaction as the events.
-- The tables below add the hour, and coarse daily grains for fast province and commune trends.
-- They are maintained by a periodic job (ioc/indicators/history_job.py), incrementally: it reads
-- the dossiers changed since its watermark (`dossier.updated_at`), compares each with what the
-- rollups already hold for it (`dossier_hour_ledger`) and applies the difference. Its lag is the
-- job interval (a minute) plus the run itself.
--
-- Hours are UTC hours, which are also local hours (Asia/Ho_Chi_Minh is UTC+7, no daylight saving);
-- days are local days, kept as the timestamptz of local midnight (`day_start`) so that both storage
-- modes have the same columns.
--
-- Plain PostgreSQL: the job upserts the differences into the rollup tables.
-- TimescaleDB: the job appends the differences to a hypertable, `dossier_flow_delta`, and the same
-- three relations are continuous aggregates over it (refreshed by the job over the range it
-- touched, and real-time for anything newer). Both give the same sums. Local days are 1-day
-- buckets with a local-midnight origin (the zone's offset is fixed): timezone-aware buckets
-- (time_bucket(..., 'Asia/Ho_Chi_Minh')) were seen to leave a row stamped exactly at local midnight
-- out of its day on refresh (TimescaleDB 2.26).
--
-- Stocks (overdue, late without an apology) are counts at an instant, which no aggregate of the
-- past can give: the same job snapshots them every run into plain tables, in both modes (the last
-- snapshot taken in an hour, or in a local day, stands for it).

-- Where each dossier's contributions stand in the rollups (one row per dossier).
CREATE TABLE dossier_hour_ledger (
    code           text PRIMARY KEY,
    province_code  text NOT NULL,
    commune_code   text NOT NULL,
    agency_code    text NOT NULL,
    sector         text NOT NULL,
    received_hour  timestamptz NOT NULL,
    online         boolean NOT NULL,
    resolved_hour  timestamptz,  -- NULL unless resolved with an outcome
    outcome        text
);

-- The change feed the job reads; `updated_at` is set by every write of a dossier's state.
CREATE INDEX dossier_updated_idx ON dossier (updated_at);

CREATE TABLE indicator_job_state (
    name        text PRIMARY KEY,
    watermark   timestamptz NOT NULL,
    last_run_at timestamptz NOT NULL,
    last_rows   bigint NOT NULL DEFAULT 0
);

DO $$
DECLARE
    counts constant text := $cols$
        received          integer NOT NULL DEFAULT 0,
        received_online   integer NOT NULL DEFAULT 0,
        resolved          integer NOT NULL DEFAULT 0,
        resolved_early    integer NOT NULL DEFAULT 0,
        resolved_on_time  integer NOT NULL DEFAULT 0,
        resolved_late     integer NOT NULL DEFAULT 0
    $cols$;
    sums constant text := $sums$
        sum(received)::integer AS received, sum(received_online)::integer AS received_online,
        sum(resolved)::integer AS resolved, sum(resolved_early)::integer AS resolved_early,
        sum(resolved_on_time)::integer AS resolved_on_time, sum(resolved_late)::integer AS resolved_late
    $sums$;
BEGIN
    IF ioc_storage_mode() = 'timescaledb' THEN
        EXECUTE format($ddl$
            CREATE TABLE dossier_flow_delta (
                at             timestamptz NOT NULL,  -- the UTC hour of the contribution
                province_code  text NOT NULL,
                commune_code   text NOT NULL,
                agency_code    text NOT NULL,
                sector         text NOT NULL,
                %s
            )$ddl$, counts);
        PERFORM create_hypertable('dossier_flow_delta', 'at', chunk_time_interval => INTERVAL '30 days');
        EXECUTE format($ddl$
            CREATE MATERIALIZED VIEW dossier_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT province_code, time_bucket(INTERVAL '1 hour', at) AS hour_start, commune_code, agency_code,
                   sector, %s
            FROM dossier_flow_delta
            GROUP BY province_code, time_bucket(INTERVAL '1 hour', at), commune_code, agency_code, sector
            WITH NO DATA$ddl$, sums);
        EXECUTE format($ddl$
            CREATE MATERIALIZED VIEW dossier_daily_commune
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT province_code, time_bucket(INTERVAL '1 day', at, TIMESTAMPTZ '2000-01-01 00:00:00+07') AS day_start,
                   commune_code, %s
            FROM dossier_flow_delta
            GROUP BY province_code, time_bucket(INTERVAL '1 day', at, TIMESTAMPTZ '2000-01-01 00:00:00+07'), commune_code
            WITH NO DATA$ddl$, sums);
        EXECUTE format($ddl$
            CREATE MATERIALIZED VIEW dossier_daily_province
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT province_code, time_bucket(INTERVAL '1 day', at, TIMESTAMPTZ '2000-01-01 00:00:00+07') AS day_start, %s
            FROM dossier_flow_delta
            GROUP BY province_code, time_bucket(INTERVAL '1 day', at, TIMESTAMPTZ '2000-01-01 00:00:00+07')
            WITH NO DATA$ddl$, sums);
    ELSE
        EXECUTE format($ddl$
            CREATE TABLE dossier_hourly (
                province_code  text NOT NULL,
                hour_start     timestamptz NOT NULL,
                commune_code   text NOT NULL,
                agency_code    text NOT NULL,
                sector         text NOT NULL,
                %s,
                PRIMARY KEY (province_code, hour_start, commune_code, agency_code, sector)
            )$ddl$, counts);
        -- Retention deletes by hour alone; a block-range index is enough for that and costs little.
        CREATE INDEX dossier_hourly_hour_brin ON dossier_hourly USING brin (hour_start);
        EXECUTE format($ddl$
            CREATE TABLE dossier_daily_commune (
                province_code  text NOT NULL,
                day_start      timestamptz NOT NULL,
                commune_code   text NOT NULL,
                %s,
                PRIMARY KEY (province_code, day_start, commune_code)
            )$ddl$, counts);
        EXECUTE format($ddl$
            CREATE TABLE dossier_daily_province (
                province_code  text NOT NULL,
                day_start      timestamptz NOT NULL,
                %s,
                PRIMARY KEY (province_code, day_start)
            )$ddl$, counts);
    END IF;
END
$$;

-- Snapshots of the dossier stocks: every run replaces its hour's rows and its local day's rows
-- (nonzero groups only; `dossier_stock_snapshot` records that a snapshot was taken, so that a
-- bucket with no rows reads as zero when a snapshot exists and as "no data" when none does).
CREATE TABLE dossier_stock_snapshot (
    grain         text NOT NULL CHECK (grain IN ('hour', 'day')),
    bucket_start  timestamptz NOT NULL,
    taken_at      timestamptz NOT NULL,
    PRIMARY KEY (grain, bucket_start)
);
CREATE TABLE dossier_stock_hourly (
    province_code         text NOT NULL,
    hour_start            timestamptz NOT NULL,
    commune_code          text NOT NULL,
    agency_code           text NOT NULL,
    sector                text NOT NULL,
    overdue               integer NOT NULL,
    late_without_apology  integer NOT NULL,
    taken_at              timestamptz NOT NULL,
    PRIMARY KEY (province_code, hour_start, commune_code, agency_code, sector)
);
CREATE TABLE dossier_stock_daily (
    province_code         text NOT NULL,
    day_start             timestamptz NOT NULL,
    commune_code          text NOT NULL,
    agency_code           text NOT NULL,
    sector                text NOT NULL,
    overdue               integer NOT NULL,
    late_without_apology  integer NOT NULL,
    taken_at              timestamptz NOT NULL,
    PRIMARY KEY (province_code, day_start, commune_code, agency_code, sector)
);
