-- Notification planner (alerts/notify): inhibit rules, and what a group's log needs to say
-- "still firing" / "resolved" when a silence ends.

-- Inhibit rules, Alertmanager style: a firing alert matching source_matchers mutes the alerts
-- matching target_matchers that share the `equal` labels. Edited via /api/v1/notify/inhibit-rules
-- and loaded from alerts/notify/default_notify.yaml.
CREATE TABLE inhibit_rule (
    id               text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{1,62}$'),
    source_matchers  jsonb NOT NULL,
    target_matchers  jsonb NOT NULL,
    equal            text[] NOT NULL DEFAULT '{}',
    updated_by       text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Fingerprints announced as firing that are muted right now (silenced, inhibited, snoozed,
-- flapping): when the mute ends and they still fire, the group notifies again.
ALTER TABLE notification_group ADD COLUMN muted text[] NOT NULL DEFAULT '{}';

CREATE INDEX alert_escalation_open_idx ON alert_escalation (alert_id) WHERE stopped_at IS NULL;
