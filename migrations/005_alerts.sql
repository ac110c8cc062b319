-- Alerts: one row per episode of a rule's condition for one set of labels (fingerprint).
CREATE TABLE alert (
    id             bigserial PRIMARY KEY,
    rule_id        text NOT NULL,
    fingerprint    text NOT NULL,
    labels         jsonb NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state          text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    province_code  text,
    commune_code   text,
    agency_code    text,
    value          double precision NOT NULL,
    summary_vi     text NOT NULL,
    summary_en     text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}',
    active_since   timestamptz NOT NULL,
    fired_at       timestamptz,
    resolved_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    version        integer NOT NULL DEFAULT 1
);
-- At most one open episode per fingerprint; compare-and-set updates use `version`.
CREATE UNIQUE INDEX alert_open_fingerprint_idx ON alert (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alert_province_idx ON alert (province_code, updated_at DESC);
CREATE INDEX alert_updated_idx ON alert (updated_at DESC);
CREATE INDEX alert_resolved_idx ON alert (resolved_at DESC) WHERE state = 'resolved';

CREATE TABLE alert_transition (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alert (id),
    from_state  text,
    to_state    text NOT NULL,
    at          timestamptz NOT NULL,
    value       double precision,
    summary_vi  text
);
CREATE INDEX alert_transition_alert_idx ON alert_transition (alert_id, id);

-- Every transition is queued here for delivery channels (drained with FOR UPDATE SKIP LOCKED).
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    transition_id   bigint NOT NULL REFERENCES alert_transition (id),
    channel         text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    available_at    timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX outbox_pending_idx ON outbox (available_at) WHERE delivered_at IS NULL;
