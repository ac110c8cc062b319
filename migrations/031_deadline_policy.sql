-- How a statutory period is counted (alerts/calendar.py, DeadlinePolicy), set by an administrator
-- per province with a national default (issue #12, item 5). Versioned: a change inserts a new
-- version, never updates one, so every deadline IOC reported can be traced to the rules in force
-- (the dossier explanation names id and version). The version in force for a province is its
-- highest version whose effective_from has come; a province without one of its own follows the
-- national default (province_code = '' as in calendar_override, so it can be part of the key),
-- and without any row the built-in policy applies (clock, 08:00–17:00, no cut-off).
CREATE TABLE deadline_policy (
    province_code  text NOT NULL DEFAULT '' CHECK (province_code ~ '^([0-9]{2})?$'),  -- '' = national
    version        integer NOT NULL CHECK (version >= 1),
    effective_from date NOT NULL,
    office_open    time NOT NULL,
    office_close   time NOT NULL,
    -- A receipt at or after this time of day counts from the next working day (NULL: none).
    cut_off        time,
    -- clock: the receipt's time of day N working days later; end_of_day: the close of the N-th
    -- working day after the day of receipt (Civil Code 2015 art. 147–148).
    due_instant    text NOT NULL CHECK (due_instant IN ('clock', 'end_of_day')),
    note           text NOT NULL DEFAULT '',
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, version),
    CHECK (office_open < office_close),
    CHECK (cut_off IS NULL OR (cut_off > office_open AND cut_off <= office_close))
);
