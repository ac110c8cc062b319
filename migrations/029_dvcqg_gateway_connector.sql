-- A connector may also poll a provincial data-sharing gateway that speaks the national portal's
-- format (ingest/connector/, ingest/dvcqg/): it signs in (POST login_url {username, password} →
-- session; the password is the connector's credential, auth_value or auth_env) and POSTs
-- {session, madonvi: unit_id, service, <cursor_param>: cursor} to base_url for each page.
ALTER TABLE connector
    ADD COLUMN method          text NOT NULL DEFAULT 'get' CHECK (method IN ('get', 'dvcqg')),
    ADD COLUMN login_url       text CHECK (login_url ~ '^https?://'),
    ADD COLUMN login_username  text,
    ADD COLUMN service         text CHECK (service IN ('DongBoHoSoMC', 'CapNhatTienDoHoSoMC')),
    ADD COLUMN unit_id         text,
    ADD CONSTRAINT connector_dvcqg_complete CHECK (
        method <> 'dvcqg' OR (login_url IS NOT NULL AND login_username IS NOT NULL AND service IS NOT NULL
                              AND stream = 'dossier'));
