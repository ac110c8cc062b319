-- The notification file (IOC_NOTIFY_FILE) and the API share contact points, routes, escalation
-- policies and inhibit rules. The file may only replace what it manages (updated_by = 'file');
-- an object an administrator edited is theirs, and one they deleted stays deleted at the next
-- start (its id is remembered here until it is created again through the API).
-- (A row written by hand in SQL counts as an administrator's: the default is not 'file'.)
ALTER TABLE contact_point ADD COLUMN updated_by text NOT NULL DEFAULT 'sql';
UPDATE contact_point SET updated_by = created_by;

CREATE TABLE notify_config_deleted (
    kind        text NOT NULL CHECK (kind IN ('contact_point', 'notification_route', 'escalation_policy',
                                              'inhibit_rule')),
    id          text NOT NULL,
    deleted_by  text NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
