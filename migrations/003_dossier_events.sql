-- TimescaleDB is used when the server preloads it (the docker-compose deployment); the embedded
-- default runs plain PostgreSQL. Both give the same tables and answer the same queries.
DO $$
BEGIN
    IF current_setting('shared_preload_libraries', true) LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END
$$;

CREATE FUNCTION ioc_storage_mode() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
                THEN 'timescaledb' ELSE 'partitioned' END
$$;

-- Idempotency ledger: one row per (source, source's event id). A partitioned table or a
-- hypertable cannot hold a unique key without the time column, so the key lives here.
CREATE TABLE event_receipt (
    source_id    text NOT NULL,
    event_id     text NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, event_id)
);

-- Every accepted dossier lifecycle event, append-only.
DO $$
DECLARE
    columns constant text := $cols$
        occurred_at     timestamptz NOT NULL,
        dossier_code    text NOT NULL,
        event_type      text NOT NULL,
        source_id       text NOT NULL,
        event_id        text NOT NULL,
        ingested_at     timestamptz NOT NULL,
        province_code   text NOT NULL,
        commune_code    text,
        agency_code     text,
        procedure_code  text,
        channel         text
    $cols$;
BEGIN
    IF ioc_storage_mode() = 'timescaledb' THEN
        EXECUTE format('CREATE TABLE dossier_event (%s)', columns);
        PERFORM create_hypertable('dossier_event', 'occurred_at', chunk_time_interval => INTERVAL '7 days');
        ALTER TABLE dossier_event SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'province_code',
            timescaledb.compress_orderby = 'occurred_at',
            -- A bloom filter per compressed batch lets a dossier's history lookup (the writer's
            -- refold, the dossier page) skip the batches that do not hold it.
            timescaledb.compress_index = 'bloom(dossier_code)'
        );
        PERFORM add_compression_policy('dossier_event', INTERVAL '60 days');
        PERFORM add_retention_policy('dossier_event', INTERVAL '3 years');
    ELSE
        EXECUTE format('CREATE TABLE dossier_event (%s) PARTITION BY RANGE (occurred_at)', columns);
    END IF;
END
$$;
CREATE INDEX dossier_event_dossier_idx ON dossier_event (dossier_code, occurred_at);

-- Monthly partitions on plain PostgreSQL, created on demand by the writer before it inserts
-- (in its own short transaction, so concurrent writers never wait on one another).
CREATE FUNCTION ensure_dossier_event_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    part_name   text;
    created     integer := 0;
BEGIN
    IF ioc_storage_mode() <> 'partitioned' THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7311042002);
    WHILE month_start <= (to_ts AT TIME ZONE 'UTC')::date LOOP
        part_name := format('dossier_event_%s', to_char(month_start, 'YYYYMM'));
        IF to_regclass(part_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF dossier_event FOR VALUES FROM (%L) TO (%L)',
                part_name,
                month_start::timestamp AT TIME ZONE 'UTC',
                (month_start + INTERVAL '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            created := created + 1;
        END IF;
        month_start := (month_start + INTERVAL '1 month')::date;
    END LOOP;
    RETURN created;
END
$$;

-- Retention on plain PostgreSQL: drop whole monthly partitions older than the cut-off
-- (TimescaleDB mode has a retention policy instead).
CREATE FUNCTION drop_dossier_event_partitions_before(cutoff timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    IF ioc_storage_mode() <> 'partitioned' THEN
        RETURN 0;
    END IF;
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'dossier_event'::regclass
          AND c.relname ~ '^dossier_event_[0-9]{6}$'
          AND (to_date(right(c.relname, 6), 'YYYYMM') + INTERVAL '1 month') <= (cutoff AT TIME ZONE 'UTC')
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
