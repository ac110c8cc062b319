-- The finding "appointment beyond the statutory deadline" as a dossier stock (indicator
-- appointment_beyond_statutory_count, ioc/indicators/definitions.py): the hourly and daily
-- snapshots the history job takes (ioc/indicators/history_job.py) count it beside overdue and
-- late-without-apology. No dossier had an appointment before migrations/026, so every snapshot
-- taken before this one counted none: the default 0 is exact for them.
ALTER TABLE dossier_stock_hourly ADD COLUMN appointment_beyond_statutory integer NOT NULL DEFAULT 0;
ALTER TABLE dossier_stock_daily ADD COLUMN appointment_beyond_statutory integer NOT NULL DEFAULT 0;
