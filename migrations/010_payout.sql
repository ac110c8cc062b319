-- Social-security payouts (chi trả an sinh xã hội): a monthly cycle per locality and programme.
--
-- Sources push cumulative snapshots ("as of reported_at, this cycle has paid so many"). Every
-- accepted snapshot is kept in payout_report; payout_cycle holds the latest snapshot of each
-- cycle and payout_cycle_daily the latest of each local day, both maintained by the writer
-- (ingest/payout_writer.py) in the transaction that stores the report. The same tables serve
-- plain PostgreSQL and TimescaleDB mode: a few rows per locality, programme and day are no
-- time series worth a hypertable, and a plain table answers identically in both.

-- The programmes are configuration: admins add, rename and retire them through the API.
CREATE TABLE payout_programme (
    code             text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,63}$'),
    name_vi          text NOT NULL,
    name_en          text NOT NULL,
    cashless_target  numeric(5, 4) NOT NULL DEFAULT 0.70 CHECK (cashless_target BETWEEN 0 AND 1),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO payout_programme (code, name_vi, name_en) VALUES
    ('nguoi_co_cong', 'Người có công với cách mạng', 'People with meritorious service to the revolution'),
    ('bao_tro_xa_hoi', 'Trợ cấp bảo trợ xã hội', 'Social-protection beneficiaries'),
    ('luong_huu', 'Lương hưu, trợ cấp BHXH hằng tháng', 'Pensions and monthly social-insurance allowances');

-- Every accepted report, append-only. The primary key is the idempotency ledger: a record id a
-- source already sent is a duplicate and changes nothing.
CREATE TABLE payout_report (
    source_id          text NOT NULL,
    record_id          text NOT NULL,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    province_code      text NOT NULL,
    commune_code       text NOT NULL DEFAULT '',  -- '' = reported for the whole province
    programme_code     text NOT NULL REFERENCES payout_programme (code),
    cycle_month        date NOT NULL CHECK (extract(day FROM cycle_month) = 1),
    cycle_opens_on     date NOT NULL,
    deadline           date NOT NULL,
    reported_at        timestamptz NOT NULL,
    beneficiaries_due  integer NOT NULL CHECK (beneficiaries_due >= 0),
    paid_total         integer NOT NULL CHECK (paid_total >= 0),
    paid_bank          integer NOT NULL CHECK (paid_bank >= 0),
    paid_card          integer NOT NULL CHECK (paid_card >= 0),
    paid_ewallet       integer NOT NULL CHECK (paid_ewallet >= 0),
    paid_cash          integer NOT NULL CHECK (paid_cash >= 0),
    failed             integer NOT NULL CHECK (failed >= 0),
    failure_reasons    jsonb NOT NULL DEFAULT '{}',  -- {reason: count}, counts summing to failed
    amount_due_vnd     bigint NOT NULL CHECK (amount_due_vnd >= 0),
    amount_paid_vnd    bigint NOT NULL CHECK (amount_paid_vnd >= 0),
    PRIMARY KEY (source_id, record_id),
    CHECK (paid_bank + paid_card + paid_ewallet + paid_cash = paid_total),
    CHECK (paid_total + failed <= beneficiaries_due),
    CHECK (amount_paid_vnd <= amount_due_vnd)
);
CREATE INDEX payout_report_cycle_idx ON payout_report (province_code, cycle_month, programme_code, commune_code);

CREATE FUNCTION payout_report_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payout_report is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER payout_report_no_update_delete BEFORE UPDATE OR DELETE ON payout_report
    FOR EACH ROW EXECUTE FUNCTION payout_report_refuse_change();

-- The current state of each cycle: its latest report. "Latest" orders by (reported_at,
-- source_id, record_id), so the answer does not depend on the order in which reports arrive.
CREATE TABLE payout_cycle (
    province_code      text NOT NULL,
    commune_code       text NOT NULL DEFAULT '',
    programme_code     text NOT NULL REFERENCES payout_programme (code),
    cycle_month        date NOT NULL CHECK (extract(day FROM cycle_month) = 1),
    cycle_opens_on     date NOT NULL,
    deadline           date NOT NULL,
    beneficiaries_due  integer NOT NULL,
    paid_total         integer NOT NULL,
    paid_bank          integer NOT NULL,
    paid_card          integer NOT NULL,
    paid_ewallet       integer NOT NULL,
    paid_cash          integer NOT NULL,
    failed             integer NOT NULL,
    failure_reasons    jsonb NOT NULL DEFAULT '{}',
    amount_due_vnd     bigint NOT NULL,
    amount_paid_vnd    bigint NOT NULL,
    reported_at        timestamptz NOT NULL,
    source_id          text NOT NULL,
    record_id          text NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, cycle_month, programme_code, commune_code)
);
-- The key serves one province's cycles; this serves a month across the country (rankings, map).
CREATE INDEX payout_cycle_month_idx ON payout_cycle (cycle_month, province_code);

-- The state of each cycle at the end of each local day (Asia/Ho_Chi_Minh) on which it was
-- reported: that day's latest report. A day without a report carries the previous day's state
-- forward (take the latest row with day <= D), so history needs no re-reading of reports.
CREATE TABLE payout_cycle_daily (
    day                date NOT NULL,
    province_code      text NOT NULL,
    commune_code       text NOT NULL DEFAULT '',
    programme_code     text NOT NULL REFERENCES payout_programme (code),
    cycle_month        date NOT NULL CHECK (extract(day FROM cycle_month) = 1),
    cycle_opens_on     date NOT NULL,
    deadline           date NOT NULL,
    beneficiaries_due  integer NOT NULL,
    paid_total         integer NOT NULL,
    paid_bank          integer NOT NULL,
    paid_card          integer NOT NULL,
    paid_ewallet       integer NOT NULL,
    paid_cash          integer NOT NULL,
    failed             integer NOT NULL,
    failure_reasons    jsonb NOT NULL DEFAULT '{}',
    amount_due_vnd     bigint NOT NULL,
    amount_paid_vnd    bigint NOT NULL,
    reported_at        timestamptz NOT NULL,
    source_id          text NOT NULL,
    record_id          text NOT NULL,
    PRIMARY KEY (province_code, cycle_month, programme_code, commune_code, day)
);
-- One province over a range of days (history), and every province on a day (rankings, map).
CREATE INDEX payout_cycle_daily_province_day_idx ON payout_cycle_daily (province_code, day);
CREATE INDEX payout_cycle_daily_day_idx ON payout_cycle_daily (day);
