-- Service quality of dossiers: the four indicators that had no data (ingest/lifecycle.py).
--
-- Sources may now send, all optional (existing senders are unaffected):
--   * on a `received` event: `online_level` ('full' = dịch vụ công trực tuyến toàn trình, 'partial'
--     = một phần; online dossiers only) and `digitised` (số hóa thành phần hồ sơ: true / false);
--   * a `fee_paid` event with `payment_channel` ('online' = thanh toán trực tuyến, 'offline');
--   * a `rated` event with `rating` ('very_satisfied', 'satisfied', 'dissatisfied': the levels of
--     the Decision 766 real-time evaluation; the first two count as satisfied).
-- The event log keeps them (a refold from history gives the same state); the dossier state keeps
-- what the fold made of them: the receipt's level and digitisation, the first fee payment, the
-- latest rating. Nullable columns without a default: a catalogue change only, on partitions and
-- hypertables alike.
ALTER TABLE dossier_event
    ADD COLUMN online_level text, ADD COLUMN digitised boolean, ADD COLUMN payment_channel text,
    ADD COLUMN rating text;
ALTER TABLE dossier
    ADD COLUMN online_level text CHECK (online_level IN ('full', 'partial')),
    ADD COLUMN digitised boolean,
    ADD COLUMN fee_paid_at timestamptz,
    ADD COLUMN payment_channel text CHECK (payment_channel IN ('online', 'offline')),
    ADD COLUMN rated_at timestamptz,
    ADD COLUMN rating text CHECK (rating IN ('very_satisfied', 'satisfied', 'dissatisfied'));

-- The flows they give, per dossier counted once (ingest/lifecycle.py `contributions`):
--   on the local day (hour) of receipt: received_full_online (level 'full'), received_level_stated
--     (online receipts that stated a level, full or partial), digitised (stated true),
--     digitised_known (stated true or false);
--   on the day (hour) of the first fee payment: fee_payments, fee_payments_online;
--   on the day (hour) of the latest rating: ratings, ratings_satisfied.
-- No dossier stored before this migration stated a level, a digitisation, a payment or a rating,
-- so every new count is 0 for existing rows: the defaults are exact.
ALTER TABLE dossier_daily
    ADD COLUMN received_full_online integer NOT NULL DEFAULT 0,
    ADD COLUMN received_level_stated integer NOT NULL DEFAULT 0,
    ADD COLUMN digitised integer NOT NULL DEFAULT 0,
    ADD COLUMN digitised_known integer NOT NULL DEFAULT 0,
    ADD COLUMN fee_payments integer NOT NULL DEFAULT 0,
    ADD COLUMN fee_payments_online integer NOT NULL DEFAULT 0,
    ADD COLUMN ratings integer NOT NULL DEFAULT 0,
    ADD COLUMN ratings_satisfied integer NOT NULL DEFAULT 0;

-- Where each dossier's new contributions stand in the hourly rollups (ioc/indicators/history_job.py
-- compares them with the dossier's state): the state's own values, NULL for every existing row.
ALTER TABLE dossier_hour_ledger
    ADD COLUMN online_level text, ADD COLUMN digitised boolean, ADD COLUMN paid_hour timestamptz,
    ADD COLUMN payment_channel text, ADD COLUMN rated_hour timestamptz, ADD COLUMN rating text;

DO $$
DECLARE
    counts constant text := $cols$
        ADD COLUMN received_full_online integer NOT NULL DEFAULT 0,
        ADD COLUMN received_level_stated integer NOT NULL DEFAULT 0,
        ADD COLUMN digitised integer NOT NULL DEFAULT 0,
        ADD COLUMN digitised_known integer NOT NULL DEFAULT 0,
        ADD COLUMN fee_payments integer NOT NULL DEFAULT 0,
        ADD COLUMN fee_payments_online integer NOT NULL DEFAULT 0,
        ADD COLUMN ratings integer NOT NULL DEFAULT 0,
        ADD COLUMN ratings_satisfied integer NOT NULL DEFAULT 0
    $cols$;
    sums constant text := $sums$
        sum(received)::integer AS received, sum(received_online)::integer AS received_online,
        sum(resolved)::integer AS resolved, sum(resolved_early)::integer AS resolved_early,
        sum(resolved_on_time)::integer AS resolved_on_time, sum(resolved_late)::integer AS resolved_late,
        sum(received_full_online)::integer AS received_full_online,
        sum(received_level_stated)::integer AS received_level_stated,
        sum(digitised)::integer AS digitised, sum(digitised_known)::integer AS digitised_known,
        sum(fee_payments)::integer AS fee_payments, sum(fee_payments_online)::integer AS fee_payments_online,
        sum(ratings)::integer AS ratings, sum(ratings_satisfied)::integer AS ratings_satisfied
    $sums$;
    day_bucket constant text := $b$time_bucket(INTERVAL '1 day', at, TIMESTAMPTZ '2000-01-01 00:00:00+07')$b$;
    rollup text;
BEGIN
    IF ioc_storage_mode() = 'timescaledb' THEN
        -- A continuous aggregate cannot gain columns: the three are made again over the widened
        -- delta hypertable (same names, same grouping as migrations/012). Made WITH NO DATA they
        -- answer from the hypertable in real time; the history job materialises them in full on its
        -- next run (the row below asks it to), before any partial refresh could hide older buckets.
        DROP MATERIALIZED VIEW dossier_hourly;
        DROP MATERIALIZED VIEW dossier_daily_commune;
        DROP MATERIALIZED VIEW dossier_daily_province;
        EXECUTE format('ALTER TABLE dossier_flow_delta %s', counts);
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
            SELECT province_code, %1$s AS day_start, commune_code, %2$s
            FROM dossier_flow_delta
            GROUP BY province_code, %1$s, commune_code
            WITH NO DATA$ddl$, day_bucket, sums);
        EXECUTE format($ddl$
            CREATE MATERIALIZED VIEW dossier_daily_province
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT province_code, %1$s AS day_start, %2$s
            FROM dossier_flow_delta
            GROUP BY province_code, %1$s
            WITH NO DATA$ddl$, day_bucket, sums);
        INSERT INTO indicator_job_state (name, watermark, last_run_at)
        VALUES ('dossier_history_full_refresh', now(), now())
        ON CONFLICT (name) DO NOTHING;
    ELSE
        FOREACH rollup IN ARRAY ARRAY['dossier_hourly', 'dossier_daily_commune', 'dossier_daily_province'] LOOP
            EXECUTE format('ALTER TABLE %I %s', rollup, counts);
        END LOOP;
    END IF;
END
$$;

-- The writer stages dossier and rollup rows in session tables made `LIKE` the real ones: a session
-- that staged before this migration holds the old shapes, so they are made again once.
CREATE OR REPLACE FUNCTION ioc_prepare_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('pg_temp.dossier_stage') AND attname = 'rating' AND NOT attisdropped
    ) THEN
        DROP TABLE IF EXISTS pg_temp.dossier_stage;
        CREATE TEMP TABLE dossier_stage (LIKE dossier INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('pg_temp.dossier_daily_stage') AND attname = 'ratings_satisfied'
          AND NOT attisdropped
    ) THEN
        DROP TABLE IF EXISTS pg_temp.dossier_daily_stage;
        CREATE TEMP TABLE dossier_daily_stage (LIKE dossier_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
END
$$;
