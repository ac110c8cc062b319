"""One settings object for every entry point, read from `IOC_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOC_", env_file=".env", extra="ignore")

    # With no URL the product runs its own PostgreSQL cluster under `data_dir` (the embedded default).
    database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".ioc"
    # The embedded cluster preloads TimescaleDB only when asked and the extension is installed.
    embedded_timescale: bool = False

    host: str = "127.0.0.1"
    port: int = 8000

    frontend_dir: Path = PROJECT_ROOT / "frontend"
    # An official province GeoJSON; with none the map derives shapes from commune coordinates.
    boundary_file: Path | None = None

    # Ingest limits: a batch beyond these is refused whole with 413 and nothing is written.
    max_batch_items: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    # Clocks of sources drift; an event further in the future than this is rejected.
    future_tolerance_seconds: int = 300
    # How often a healthy dossier feed is expected to deliver, for the freshness badge.
    dossier_feed_expected_seconds: int = 300

    # Alerting. Rules are evaluated at once when data arrives, and at least this often.
    alert_interval_seconds: float = 15.0
    # Rules, routes, escalation policies and inhibit rules loaded (and validated) at start; entries
    # edited through the API are not overwritten by the files.
    alert_rules_file: Path | None = PROJECT_ROOT / "alerts" / "rulebook" / "default_rules.yaml"
    notify_file: Path | None = PROJECT_ROOT / "alerts" / "notify" / "default_notify.yaml"
    # How often notifications are planned (group wait / interval / repeat, escalation, silences).
    notify_interval_seconds: float = 1.0
    notify_reminder_lead_minutes: int = 30
    notify_resolved_lookback_hours: int = 48
    # Delivery channels; a channel whose settings are empty is not started.
    public_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "IOC <ioc@localhost>"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    telegram_base_url: str = "https://api.telegram.org"
    telegram_token: str = ""
    zalo_base_url: str = "https://openapi.zalo.me"
    zalo_access_token: str = ""
    # Web Push: the VAPID key pair (created on first use; default <data_dir>/vapid-private.pem).
    # The API (which hands out the public key) and the alerts process must share this file.
    vapid_private_key_file: Path | None = None
    vapid_subject: str = "mailto:ioc@localhost"
    live_coalesce_seconds: float = 0.25
    dashboard_window_days: int = 30
    retention_days: int = 3 * 365

    pool_min_size: int = 2
    pool_max_size: int = 10

    # Access control. Cookies are marked Secure when the product is served over HTTPS.
    session_hours: float = 12.0
    access_token_minutes: float = 15.0
    refresh_token_days: float = 30.0
    cookie_secure: bool = False
    hsts: bool = False
    # Browser origins allowed to call the API cross-site; empty keeps CORS closed.
    cors_origins: str = ""
    # Extra origins a WebSocket may come from, besides the page's own (comma-separated).
    ws_allowed_origins: str = ""
    # Rate limits: login attempts per client address and per username; ingest batches per source.
    login_attempts_per_minute: float = 10.0
    login_attempts_per_username_per_minute: float = 5.0
    ingest_batches_per_second: float = 20.0
    ingest_batch_burst: int = 40
    # Bodies of every route but ingest (which has max_body_bytes).
    max_request_bytes: int = 1024 * 1024
    # Optional OIDC: bearer JWTs from this issuer are accepted; keys from a JWKS URL or file.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_role_claim: str = "ioc_role"
    oidc_scope_claim: str = "ioc_scope"
    oidc_groups_claim: str = "groups"
    # JSON object mapping an identity-provider group to an IOC role, e.g. {"ioc-admins": "admin"}.
    oidc_role_map: str = ""

    simulate_rate: float = Field(default=50.0, description="new dossiers per real second while the past is replayed")
    # Simulated seconds per real second while the simulator catches up on its back-filled week.
    simulate_time_scale: float = 20000.0
    # The simulated intake as a multiple of the national volume (≈ 70.8 M dossiers a year, by
    # population; 1.0 ≈ 7 new dossiers a second in office hours); see ingest/simulator/intake.py.
    simulate_volume_scale: float = 1.0
    # How much of the past the simulator replays (at simulate_time_scale) before it runs live.
    simulate_backfill_hours: float = 168.0
    # Once caught up, send the full volume rather than the replay's sample (ingest/simulator/generator.py).
    simulate_full_volume_live: bool = False

    @field_validator(
        "database_url",
        "boundary_file",
        "oidc_issuer",
        "oidc_audience",
        "oidc_jwks_url",
        "oidc_jwks_file",
        "vapid_private_key_file",
        "alert_rules_file",
        "notify_file",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # docker-compose passes unset optional variables as empty strings.
        return None if value == "" else value

    @property
    def vapid_key_path(self) -> Path:
        return self.vapid_private_key_file or self.data_dir / "vapid-private.pem"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("IOC_DATABASE_URL is not set and no embedded database was started")
        return self.database_url
