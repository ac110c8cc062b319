-- Sources beyond the push API: report files departments send (CSV, XLSX), and polling connectors
-- to sources' REST APIs. Both write through the same stream ingesters as the push API. Plain
-- tables in both storage modes (a handful of rows per day).

-- Files imported by people are written under this source unless they name another. It has no
-- key, so nothing can push with it; its scope is national because the uploader's scope, not the
-- source's, decides which rows of a file are allowed.
INSERT INTO source (id, name, streams, scope)
VALUES ('file-import', 'Nhập tệp báo cáo (CSV, XLSX) / report file import', '{payout,id_issuance}',
        '{"national": true}')
ON CONFLICT (id) DO NOTHING;

-- One row per import attempt: the ledger that makes a second import of the same bytes a no-op,
-- and the record of who imported what. A file is imported entirely or not at all.
CREATE TABLE file_import (
    id           bigserial PRIMARY KEY,
    stream       text NOT NULL,
    source_id    text NOT NULL REFERENCES source (id),
    file_name    text NOT NULL DEFAULT '',
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    byte_size    bigint NOT NULL CHECK (byte_size >= 0),
    format       text NOT NULL DEFAULT '',      -- csv, xlsx ('' when the file could not be read)
    imported_by  text NOT NULL,                 -- the actor, as in audit_log (user:<name>, cli:<os user>)
    imported_at  timestamptz NOT NULL DEFAULT now(),
    row_count    integer NOT NULL DEFAULT 0,    -- data rows (totals rows and empty rows aside)
    accepted     integer NOT NULL DEFAULT 0,
    duplicate    integer NOT NULL DEFAULT 0,
    outcome      text NOT NULL CHECK (outcome IN ('imported', 'rejected')),
    errors       jsonb NOT NULL DEFAULT '[]',   -- the first row errors of a rejected file
    -- [[province, commune or ''], ...] the file's rows name: lists are filtered to the reader's scope.
    localities   jsonb NOT NULL DEFAULT '[]'
);
-- The same bytes are imported once per stream; rejected attempts may repeat (after a fix elsewhere,
-- e.g. a programme activated, the same file may pass).
CREATE UNIQUE INDEX file_import_once ON file_import (stream, sha256) WHERE outcome = 'imported';
CREATE INDEX file_import_recent_idx ON file_import (imported_at DESC);

-- A polling connector: GET <base_url>?<cursor_param>=<cursor> returns a page of the stream's
-- push-API items (at <items_path> in the JSON answer) and the cursor of the next page (at
-- <cursor_path>). The credential for the source's API is either stored here (auth_value, never
-- shown again by the API) or read from an environment variable of the connectors process (auth_env).
CREATE TABLE connector (
    id                text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    stream            text NOT NULL,
    source_id         text NOT NULL REFERENCES source (id),
    base_url          text NOT NULL CHECK (base_url ~ '^https?://'),
    cursor_param      text NOT NULL DEFAULT 'changed_since',
    items_path        text NOT NULL DEFAULT 'items',
    cursor_path       text NOT NULL DEFAULT 'next_cursor',
    initial_cursor    text,                      -- NULL: the first request carries no cursor
    auth_header       text,                      -- e.g. Authorization, X-API-Key
    auth_value        text,
    auth_env          text,
    interval_seconds  integer NOT NULL DEFAULT 300 CHECK (interval_seconds BETWEEN 1 AND 86400),
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Where each connector has got to. The cursor is written in the transaction that writes the page
-- it came with, so a poller killed at any moment resumes exactly after the last page it stored.
-- The counters are written in that same transaction: they count what was stored, once.
CREATE TABLE connector_state (
    connector_id      text PRIMARY KEY REFERENCES connector (id) ON DELETE CASCADE,
    cursor            text,
    pages             bigint NOT NULL DEFAULT 0,
    items_accepted    bigint NOT NULL DEFAULT 0,
    items_duplicate   bigint NOT NULL DEFAULT 0,
    items_rejected    bigint NOT NULL DEFAULT 0,
    last_page_at      timestamptz,
    last_run_at       timestamptz,
    last_success_at   timestamptz,
    last_error        text,
    last_error_at     timestamptz,
    next_run_at       timestamptz
);
