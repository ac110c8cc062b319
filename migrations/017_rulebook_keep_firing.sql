-- Keep-firing (alerts/engine.py): when the signal of a firing alert with keep_firing_for went away.
-- NULL while the signal is present; the alert resolves once keep_firing_for has passed since.
ALTER TABLE alert ADD COLUMN signal_lost_at timestamptz;
-- Flap damping counts a series' recent state changes across its episodes (one alert row each).
CREATE INDEX alert_rule_fingerprint_idx ON alert (rule_id, fingerprint, id DESC);
