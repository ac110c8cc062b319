-- The live queue's order (ioc/live/alert_index.py): firing, pending, resolved; critical, warning,
-- info; newest first; then id. GET /api/v1/alerts pages through it by keyset and the snapshot's
-- first page reads it, so both are index range scans instead of a sort of every matching alert.
-- The expressions must stay textually equal to STATE_RANK_SQL, SEVERITY_RANK_SQL and QUEUE_AT_SQL.
CREATE INDEX alert_queue_idx ON alert (
    (CASE state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END),
    (CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 WHEN 'info' THEN 2 ELSE 3 END),
    (coalesce(resolved_at, fired_at, active_since)) DESC,
    id
);
