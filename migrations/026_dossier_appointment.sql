-- The appointment on the citizen's slip is authoritative (ingest/lifecycle.py).
--
-- Sources may now send, all optional (existing senders are unaffected):
--   * `due_at` (ngày hẹn trả, the appointment printed on the slip) on `received`,
--     `supplement_received` and `apology_issued`, and a new `extended` event that carries one;
--   * `procedure.statutory_days` on any event: on a receipt it is the dossier's own statutory
--     period and wins over the catalogue's (it used to be dropped once the procedure was known).
-- The event log keeps both, so a refold from history gives the same state.
ALTER TABLE dossier_event ADD COLUMN due_at timestamptz, ADD COLUMN statutory_days integer;

-- The state keeps the deadline twice: `due_at` (unchanged meaning for every index and reader:
-- the deadline in force) is the source's appointment when one came, else IOC's statutory
-- calculation, now kept beside it as `statutory_due_at`. `held_due_at` is a deadline the outcome is
-- still measured against after the appointment was moved past it (an apology letter's new date,
-- a move made once already late).
ALTER TABLE dossier
    ADD COLUMN statutory_due_at timestamptz,
    ADD COLUMN appointment_at timestamptz,
    ADD COLUMN appointment_set_at timestamptz,
    ADD COLUMN held_due_at timestamptz;

-- No dossier stored so far had an appointment: its deadline was the statutory one.
UPDATE dossier SET statutory_due_at = due_at WHERE due_at IS NOT NULL;

-- An open dossier whose appointment is later than its statutory deadline (the slip promised more
-- time than the law allows) is a finding, counted per locality and alerted on: a small set by
-- construction, so a partial index keeps the count an index scan.
CREATE INDEX dossier_appointment_beyond_idx ON dossier (province_code, commune_code)
    WHERE closed_at IS NULL AND appointment_at > statutory_due_at;

-- The projector stages dossier rows in a session table made `LIKE dossier`: a session that
-- staged before this migration holds the old shape, so it is made again once.
CREATE OR REPLACE FUNCTION ioc_prepare_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('pg_temp.dossier_stage') AND attname = 'held_due_at' AND NOT attisdropped
    ) THEN
        DROP TABLE IF EXISTS pg_temp.dossier_stage;
        CREATE TEMP TABLE dossier_stage (LIKE dossier INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    END IF;
    DROP TABLE IF EXISTS pg_temp.dossier_daily_stage;
END
$$;
