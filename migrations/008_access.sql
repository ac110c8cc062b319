-- Who sees what: accounts, sessions and tokens, wall displays, scoped source keys, audit trail.
-- Scopes are JSON ({"national": bool, "provinces": [...], "communes": [...], "agencies": [...]|null,
-- "sectors": [...]|null}), validated by ioc/auth/scope.py before they are stored.

CREATE TABLE app_user (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,63}$'),
    display_name   text NOT NULL,
    password_hash  text,                       -- argon2id; NULL for accounts that only sign in by OIDC
    role           text NOT NULL CHECK (role IN ('admin', 'leader', 'operator', 'subscriber')),
    scope          jsonb NOT NULL,
    email          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);

-- Browser sessions, access tokens and refresh tokens: random strings of which only the SHA-256 is
-- kept. A refresh token is single-use; its `family` lets a reused one end the whole chain.
CREATE TABLE auth_token (
    token_sha256  text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('session', 'access', 'refresh')),
    user_id       bigint NOT NULL REFERENCES app_user (id),
    family        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    client_ip     text
);
CREATE INDEX auth_token_user_idx ON auth_token (user_id) WHERE revoked_at IS NULL;
CREATE INDEX auth_token_family_idx ON auth_token (family);

-- Wall displays: a read-only token bound to a scope and a screen name, revocable.
CREATE TABLE display_token (
    id            bigserial PRIMARY KEY,
    screen_name   text NOT NULL,
    scope         jsonb NOT NULL,
    token_sha256  text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    last_seen_at  timestamptz,
    revoked_at    timestamptz
);

-- Sources write only their own streams and localities. Keys move to their own table so that a
-- source can hold two valid keys during a rotation.
ALTER TABLE source
    ADD COLUMN streams text[] NOT NULL DEFAULT '{dossier}',
    ADD COLUMN scope jsonb NOT NULL DEFAULT '{"national": true}';

CREATE TABLE source_key (
    id          bigserial PRIMARY KEY,
    source_id   text NOT NULL REFERENCES source (id),
    key_sha256  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,                   -- set on the old key when a rotation starts
    revoked_at  timestamptz
);
CREATE INDEX source_key_source_idx ON source_key (source_id);
INSERT INTO source_key (source_id, key_sha256, created_at, revoked_at)
SELECT id, key_sha256, created_at, revoked_at FROM source;
ALTER TABLE source DROP COLUMN key_sha256;

-- Acknowledgements of alerts (who, when, with what comment). Escalation and assignment build on
-- this in the alerting issue.
CREATE TABLE alert_ack (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alert (id),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    comment   text NOT NULL DEFAULT ''
);
CREATE INDEX alert_ack_alert_idx ON alert_ack (alert_id, id);

-- The audit trail: append-only. Rows are only ever inserted; the triggers below refuse any
-- UPDATE, DELETE or TRUNCATE, also from a bug or a careless admin with SQL access.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,                 -- user:<name>, display:<id>, source:<id>, cli:<os user>, anonymous
    actor_role  text,
    action      text NOT NULL,                 -- login.success, user.create, calendar.override_set, ...
    target      text NOT NULL DEFAULT '',
    outcome     text NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'denied', 'failed')),
    client_ip   text,
    user_agent  text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
