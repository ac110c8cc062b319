-- Alerts posted in Alertmanager's API format (alerts/interop): Prometheus resends each firing
-- alert every minute, so finding its open row, its last episode and the ones whose endsAt has
-- passed must not scan the alert table.
CREATE INDEX alert_external_episode_idx ON alert (fingerprint, active_since) WHERE source = 'alertmanager';
CREATE INDEX alert_external_expiry_idx ON alert (ends_at) WHERE source = 'alertmanager' AND state <> 'resolved';
