-- The national portal's sync format (DongBoHoSoMC / CapNhatTienDoHoSoMC) pushed by an unmodified
-- one-stop system: ingest/dvcqg/ and ioc/api/dvcqg.py.

-- Where a unit's dossiers belong, per source, as an administrator declared it. `unit_key` is a unit
-- identifier (madonvi / MaDinhDanhDV, e.g. 000.00.01.H22), a DonViXuLy name as that source writes
-- it, or a bare province suffix (H22) that places every identifier ending in it at province level.
CREATE TABLE dvcqg_unit (
    source_id      text NOT NULL REFERENCES source (id) ON DELETE CASCADE,
    unit_key       text NOT NULL CHECK (length(unit_key) BETWEEN 1 AND 300),
    province_code  text NOT NULL,
    commune_code   text,
    agency_code    text,
    agency_name    text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, unit_key)
);

-- Portal sessions (the `session` of the envelope), issued for a source key by the portal-style
-- login. A table rather than signed tokens: revoking or rotating the key ends its sessions at
-- once (they are checked against the key on every call), and no signing secret has to be shared
-- between API processes. Only the SHA-256 of a session is stored.
CREATE TABLE dvcqg_session (
    session_sha256  text PRIMARY KEY,
    source_id       text NOT NULL REFERENCES source (id) ON DELETE CASCADE,
    key_id          bigint NOT NULL REFERENCES source_key (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX dvcqg_session_expiry_idx ON dvcqg_session (expires_at);

-- The last TrangThaiHoSo each source reported per dossier, and when an undated entry into it was
-- first heard: a resend of the same state then derives the same event (same id) again; and the
-- appointment (NgayHenTra) last seen, so that a changed one becomes an event.
CREATE TABLE dvcqg_dossier_status (
    source_id     text NOT NULL REFERENCES source (id) ON DELETE CASCADE,
    dossier_code  text NOT NULL,
    status        text NOT NULL,
    since         timestamptz,
    due           timestamptz,                -- NgayHenTra as last seen outside a pause
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, dossier_code)
);
