"""The one PostgreSQL channel writers notify and API processes listen on (payloads: ids only)."""

LIVE_CHANNEL = "ioc_live"
NOTIFY_LIVE = f"SELECT pg_notify('{LIVE_CHANNEL}', %s)"
