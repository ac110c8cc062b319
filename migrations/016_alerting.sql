-- Alerting a command centre can live with: rules as data, people acting on alerts, silences,
-- routing and subscriptions, escalation, and the delivery outbox every external channel drains.
-- The pure cores that read and write these tables live in alerts/rulebook, alerts/notify,
-- alerts/delivery; the tables are shared, so they are defined together here.

-- ---------------------------------------------------------------- alerts: labels and people

-- Every alert carries locality, agency, sector, stream and severity labels; sector and stream get
-- columns (like province/commune/agency) so scopes and matchers can filter without parsing JSON.
ALTER TABLE alert
    ADD COLUMN sector_code      text,
    ADD COLUMN stream           text,
    -- 'engine' = evaluated here; 'alertmanager' = posted in Alertmanager's API format.
    ADD COLUMN source           text NOT NULL DEFAULT 'engine' CHECK (source IN ('engine', 'alertmanager')),
    ADD COLUMN ends_at          timestamptz,           -- alertmanager alerts: resolve when this passes
    ADD COLUMN acknowledged_at  timestamptz,
    ADD COLUMN acknowledged_by  text,
    ADD COLUMN assignee         text,
    ADD COLUMN snoozed_until    timestamptz,
    ADD COLUMN resolved_by      text,                  -- set when resolved by hand, NULL when the rule cleared
    ADD COLUMN flapping         boolean NOT NULL DEFAULT false,
    ADD COLUMN last_changed_at  timestamptz;           -- last pending/firing/resolved change (flap damping)
CREATE INDEX alert_sector_idx ON alert (sector_code) WHERE state <> 'resolved';

-- The alert's history of what people (and the escalation chain) did, next to alert_transition
-- which records what the rule did. kind: ack, unack, comment, assign, snooze, resolve, escalate,
-- notify (a summary line per notification sent), silenced.
CREATE TABLE alert_activity (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alert (id),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,                 -- username, or 'system' for escalation/notification
    kind      text NOT NULL CHECK (kind IN ('ack', 'unack', 'comment', 'assign', 'snooze', 'resolve',
                                            'escalate', 'notify', 'silenced')),
    comment   text NOT NULL DEFAULT '',
    data      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_activity_alert_idx ON alert_activity (alert_id, id);

-- ---------------------------------------------------------------- rules as data

-- The current definition of each rule; `spec` is the validated rule (alerts/rulebook) as JSON.
CREATE TABLE alert_rule (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_]{1,62}$'),
    kind        text NOT NULL,
    spec        jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    version     integer NOT NULL,
    origin      text NOT NULL CHECK (origin IN ('file', 'api')),
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
-- Every change, never edited: who changed what, when.
CREATE TABLE alert_rule_version (
    rule_id     text NOT NULL REFERENCES alert_rule (id),
    version     integer NOT NULL,
    kind        text NOT NULL,
    spec        jsonb NOT NULL,
    enabled     boolean NOT NULL,
    change      text NOT NULL CHECK (change IN ('create', 'update', 'enable', 'disable', 'delete')),
    author      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, version)
);

-- ---------------------------------------------------------------- silences

-- matchers: [{"label": "province_code", "op": "=", "value": "01"}, ...] (ops =, !=, =~, !~).
-- recurrence NULL = one-off [starts_at, ends_at). Otherwise a JSON schedule (alerts/notify/silences.py):
-- weekly windows ({"weekly": [{"days": [6], "from": "13:30", "to": "17:00"}]}), yearly date
-- ranges, or named holidays ({"holiday": "tet"}), local time Asia/Ho_Chi_Minh, active between
-- starts_at and ends_at (ends_at NULL = no end).
CREATE TABLE silence (
    id              bigserial PRIMARY KEY,
    matchers        jsonb NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz,
    recurrence      jsonb,
    comment         text NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expired_at      timestamptz,                 -- ended early by a person
    expired_by      text,
    reminded_until  timestamptz                  -- the window end a reminder was already sent for
);
CREATE INDEX silence_live_idx ON silence (starts_at) WHERE expired_at IS NULL;

-- ---------------------------------------------------------------- where notifications go

-- Named destinations an administrator configures: an e-mail list, a webhook (optionally in
-- Alertmanager's webhook format), a Telegram chat, a Zalo OA follower.
CREATE TABLE contact_point (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{1,62}$'),
    channel     text NOT NULL CHECK (channel IN ('email', 'webhook', 'telegram', 'zalo')),
    address     text NOT NULL,                 -- e-mail, URL, chat id, Zalo user id
    options     jsonb NOT NULL DEFAULT '{}',    -- {"format": "alertmanager"}, {"language": "en"}...
    created_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Routes: alerts matching `matchers` go to `contact_points`, grouped by `group_by` labels, with
-- Alertmanager's timing (group wait / interval / repeat). Evaluated in `position` order; a route
-- with continue_matching=false stops the walk.
CREATE TABLE notification_route (
    id                 text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{1,62}$'),
    position           integer NOT NULL,
    matchers           jsonb NOT NULL DEFAULT '[]',
    contact_points     text[] NOT NULL,
    group_by           text[] NOT NULL DEFAULT '{rule,province_code}',
    group_wait_s       integer NOT NULL DEFAULT 1 CHECK (group_wait_s >= 0),
    group_interval_s   integer NOT NULL DEFAULT 300 CHECK (group_interval_s >= 0),
    repeat_interval_s  integer NOT NULL DEFAULT 14400 CHECK (repeat_interval_s > 0),
    continue_matching  boolean NOT NULL DEFAULT true,
    updated_by         text NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- A person's own channels (e-mail, Telegram chat, Zalo id) and language.
CREATE TABLE user_contact (
    user_id   bigint NOT NULL REFERENCES app_user (id),
    channel   text NOT NULL CHECK (channel IN ('email', 'telegram', 'zalo')),
    address   text NOT NULL,
    PRIMARY KEY (user_id, channel)
);
ALTER TABLE app_user ADD COLUMN language text NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en'));

-- Subscriptions: what a person wants pushed (empty array = any), on which channels, and when not.
-- Always narrowed to the person's scope; quiet hours are local time, may wrap midnight;
-- critical alerts may be let through quiet hours.
CREATE TABLE alert_subscription (
    id                    bigserial PRIMARY KEY,
    user_id               bigint NOT NULL REFERENCES app_user (id),
    provinces             text[] NOT NULL DEFAULT '{}',
    communes              text[] NOT NULL DEFAULT '{}',
    agencies              text[] NOT NULL DEFAULT '{}',
    sectors               text[] NOT NULL DEFAULT '{}',
    severities            text[] NOT NULL DEFAULT '{warning,critical}',
    channels              text[] NOT NULL CHECK (channels <@ ARRAY['email', 'telegram', 'zalo', 'webpush']::text[]),
    quiet_from            time,
    quiet_to              time,
    quiet_allows_critical boolean NOT NULL DEFAULT true,
    enabled               boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_subscription_user_idx ON alert_subscription (user_id);

-- Web Push (VAPID) subscriptions of a person's browsers/phones.
CREATE TABLE push_subscription (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES app_user (id),
    endpoint    text NOT NULL UNIQUE,
    p256dh      text NOT NULL,
    auth        text NOT NULL,
    user_agent  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    gone_at     timestamptz                        -- the push service answered 404/410
);

-- Escalation chains along the administrative hierarchy. steps: [{"after_working_minutes": 30,
-- "level": "commune"|"province"|"national", "roles": ["operator"], "channels": [...]}, ...];
-- a step notifies the people of those roles whose scope covers the alert at that level. The
-- chain restarts `repeat` times, and stops as soon as the alert is acknowledged or resolved.
CREATE TABLE escalation_policy (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{1,62}$'),
    position    integer NOT NULL,
    matchers    jsonb NOT NULL DEFAULT '[]',
    steps       jsonb NOT NULL,
    repeat      integer NOT NULL DEFAULT 0 CHECK (repeat >= 0),
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Where each alert is in its chain (one row per alert that entered one).
CREATE TABLE alert_escalation (
    alert_id     bigint PRIMARY KEY REFERENCES alert (id),
    policy_id    text NOT NULL,
    step         integer NOT NULL,               -- index of the last step notified
    round        integer NOT NULL DEFAULT 0,     -- how many times the chain restarted
    notified_at  timestamptz NOT NULL,
    stopped_at   timestamptz,
    stop_reason  text
);

-- Notification log per (receiver, group): what the receiver was last told, Alertmanager-style, so
-- a group notifies when its set changes, repeats when unchanged, and says "resolved" after a
-- silence for alerts it had announced.
CREATE TABLE notification_group (
    receiver        text NOT NULL,                 -- 'cp:<contact point>' or 'sub:<subscription id>'
    group_key       text NOT NULL,
    group_labels    jsonb NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    last_sent_at    timestamptz,
    firing_sent     text[] NOT NULL DEFAULT '{}', -- fingerprints announced as firing
    resolved_sent   text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (receiver, group_key)
);

-- ---------------------------------------------------------------- delivery outbox

-- One row per message to one address on one channel. Workers claim rows per channel with
-- FOR UPDATE SKIP LOCKED, so a slow or dead channel holds up only its own rows.
-- idempotency_key is unique: re-planning the same notification inserts nothing, and the key is
-- sent to the receiver (HTTP header / Message-ID) so it can drop a retried duplicate.
CREATE TABLE delivery (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    channel          text NOT NULL CHECK (channel IN ('email', 'webhook', 'telegram', 'zalo', 'webpush')),
    address          text NOT NULL,
    options          jsonb NOT NULL DEFAULT '{}',
    payload          jsonb NOT NULL,                -- alerts/delivery/model.py Notification as JSON
    user_id          bigint REFERENCES app_user (id),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    dead_at          timestamptz,
    last_error       text
);
CREATE INDEX delivery_pending_idx ON delivery (channel, available_at) WHERE status = 'pending';
CREATE INDEX delivery_dead_idx ON delivery (dead_at DESC) WHERE status = 'dead';
