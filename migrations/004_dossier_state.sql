-- Current state of each dossier, a fold of its events in occurred_at order.
CREATE TABLE dossier (
    code            text PRIMARY KEY,
    source_id       text NOT NULL,
    procedure_code  text NOT NULL,
    sector          text NOT NULL,
    statutory_days  integer NOT NULL,
    agency_code     text,
    province_code   text NOT NULL,
    commune_code    text,
    channel         text NOT NULL,
    status          text NOT NULL CHECK (status IN (
                        'received', 'supplement_requested', 'resolved', 'returned',
                        'rejected', 'withdrawn')),
    received_at     timestamptz NOT NULL,
    due_at          timestamptz,          -- NULL while the clock is paused for a supplement
    paused_at       timestamptz,
    paused_seconds  bigint NOT NULL DEFAULT 0,  -- working time spent waiting for supplements
    resolved_at     timestamptz,
    returned_at     timestamptz,
    closed_at       timestamptz,          -- resolved, rejected or withdrawn: no longer open
    outcome         text CHECK (outcome IN ('early', 'on_time', 'late')),
    late_since      timestamptz,          -- the deadline it missed, for late dossiers
    apology_at      timestamptz,
    last_event_at   timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Open dossiers by place and deadline: overdue and due-soon counts are index range scans.
CREATE INDEX dossier_open_province_idx ON dossier (province_code, due_at) WHERE closed_at IS NULL;
CREATE INDEX dossier_open_commune_idx ON dossier (commune_code, due_at) WHERE closed_at IS NULL;
-- Late dossiers still owing an apology letter: a small set by construction.
CREATE INDEX dossier_missing_apology_idx ON dossier (province_code, late_since)
    WHERE apology_at IS NULL AND late_since IS NOT NULL;

-- Daily rollup per commune (commune_code '' = dossiers known only at province level), in local
-- days (Asia/Ho_Chi_Minh), maintained by the writer in the same transaction as the events.
CREATE TABLE dossier_daily (
    day               date NOT NULL,
    province_code     text NOT NULL,
    commune_code      text NOT NULL DEFAULT '',
    received          integer NOT NULL DEFAULT 0,
    received_online   integer NOT NULL DEFAULT 0,
    resolved          integer NOT NULL DEFAULT 0,
    resolved_early    integer NOT NULL DEFAULT 0,
    resolved_on_time  integer NOT NULL DEFAULT 0,
    resolved_late     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, province_code, commune_code)
);
CREATE INDEX dossier_daily_province_idx ON dossier_daily (province_code, day);
