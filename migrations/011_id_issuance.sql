-- The ID-issuance stream: CCCD chip cards and VNeID level-2 e-ID accounts, reported per locality
-- and day by the police (C06 and the provincial/commune police), and the targets leaders set.
--
-- A report carries the day's flows (applications received, cards issued, level-2 applications
-- received / approved / accounts activated) and the stocks as the reporter knows them that day
-- (people eligible for a CCCD, cards issued to date, level-2 accounts activated to date, and
-- optionally the people eligible for a level-2 account). Stocks are cumulative "to date, this day
-- included". commune_code '' is a report for the whole province (not a sum of its communes).
--
-- Plain tables in both storage modes: about one row per commune and day (~1.2 M a year), which
-- PostgreSQL serves from the primary keys; no hypertable is needed, so both modes answer alike.

-- Every accepted report, as received, append-only: the ledger behind idempotency (a source's
-- record_id is taken once) and the audit trail of what each source said about each day.
CREATE TABLE id_issuance_report (
    source_id               text NOT NULL,
    record_id               text NOT NULL,
    province_code           text NOT NULL,
    commune_code            text NOT NULL DEFAULT '',
    day                     date NOT NULL,
    reported_at             timestamptz NOT NULL,
    ingested_at             timestamptz NOT NULL DEFAULT now(),
    converted_from          text,  -- the pre-July-2025 unit the source named, when it was converted
    cccd_received           integer NOT NULL CHECK (cccd_received >= 0),
    cccd_issued             integer NOT NULL CHECK (cccd_issued >= 0),
    l2_received             integer NOT NULL CHECK (l2_received >= 0),
    l2_approved             integer NOT NULL CHECK (l2_approved >= 0),
    l2_activated            integer NOT NULL CHECK (l2_activated >= 0),
    eligible_population     bigint NOT NULL CHECK (eligible_population >= 0),
    cccd_issued_total       bigint NOT NULL CHECK (cccd_issued_total >= 0),
    l2_activated_total      bigint NOT NULL CHECK (l2_activated_total >= 0),
    l2_eligible_population  bigint CHECK (l2_eligible_population >= 0),
    PRIMARY KEY (source_id, record_id),
    CHECK (cccd_issued_total <= eligible_population)
);
CREATE INDEX id_issuance_report_locality_day_idx ON id_issuance_report (province_code, commune_code, day);

CREATE FUNCTION id_issuance_report_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'id_issuance_report is append-only (% refused); send a newer report instead', TG_OP;
END
$$;
CREATE TRIGGER id_issuance_report_no_update_delete BEFORE UPDATE OR DELETE ON id_issuance_report
    FOR EACH ROW EXECUTE FUNCTION id_issuance_report_refuse_change();

-- The report in force for each locality and day: the one with the newest reported_at (a later
-- report replaces an earlier one only if it is strictly newer; on a tie the first one stays).
-- source_id / record_id name that report in id_issuance_report.
CREATE TABLE id_issuance_daily (
    province_code           text NOT NULL,
    commune_code            text NOT NULL DEFAULT '',
    day                     date NOT NULL,
    cccd_received           integer NOT NULL,
    cccd_issued             integer NOT NULL,
    l2_received             integer NOT NULL,
    l2_approved             integer NOT NULL,
    l2_activated            integer NOT NULL,
    eligible_population     bigint NOT NULL,
    cccd_issued_total       bigint NOT NULL,
    l2_activated_total      bigint NOT NULL,
    l2_eligible_population  bigint,
    reported_at             timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    source_id               text NOT NULL,
    record_id               text NOT NULL,
    PRIMARY KEY (province_code, commune_code, day)
);
-- "All provinces, these days" (national maps and rankings) without scanning every locality.
CREATE INDEX id_issuance_daily_day_idx ON id_issuance_daily (day);

-- Targets with deadlines, per locality (commune_code '' = the whole province) and metric:
--   cccd_coverage       a share 0..1 of the eligible population holding a chip CCCD;
--   vneid_l2_activated  a number of level-2 accounts activated (cumulative).
CREATE TABLE id_target (
    province_code  text NOT NULL REFERENCES locality (code),
    commune_code   text NOT NULL DEFAULT '',
    metric         text NOT NULL CHECK (metric IN ('cccd_coverage', 'vneid_l2_activated')),
    target_value   numeric NOT NULL CHECK (target_value >= 0),
    start_date     date,
    deadline       date NOT NULL,
    note           text NOT NULL DEFAULT '',
    set_by         text NOT NULL,
    set_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, commune_code, metric),
    CHECK (metric <> 'cccd_coverage' OR target_value <= 1),
    CHECK (start_date IS NULL OR start_date <= deadline)
);

-- The writer's session staging table (binary COPY, then one set-based merge), made per
-- connection through this function so that table DDL stays in migrations; emptied at commit.
CREATE FUNCTION ioc_prepare_id_issuance_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.id_issuance_stage') IS NULL THEN
        CREATE TEMP TABLE id_issuance_stage (
            LIKE id_issuance_report INCLUDING DEFAULTS,
            item_index integer NOT NULL
        ) ON COMMIT DELETE ROWS;
    END IF;
END
$$;
