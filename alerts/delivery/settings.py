"""Everything the delivery channels need to know about the outside world, in one frozen object.

The application maps its ``IOC_*`` settings onto this; tests build one pointing at local servers.
Empty strings mean "not configured": a channel without its settings is simply not started.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DeliverySettings:
    # Links in messages: public base URL of the console + the alert's path ("/alerts/42").
    public_url: str = "http://127.0.0.1:8000"
    # E-mail over SMTP. starttls upgrades a plain connection; ssl connects with implicit TLS (465).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "IOC <ioc@localhost>"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_s: float = 15.0
    # Telegram Bot API: {telegram_base_url}/bot{token}/sendMessage.
    telegram_base_url: str = "https://api.telegram.org"
    telegram_token: str = ""
    # Zalo Official Account message API: {zalo_base_url}/v3.0/oa/message/cs, header access_token.
    zalo_base_url: str = "https://openapi.zalo.me"
    zalo_access_token: str = ""
    # Web Push: the VAPID private key (created there on first use) and the contact the push
    # services may write to ("mailto:..." or "https://...").
    vapid_private_key_path: Path = Path(".ioc/vapid-private.pem")
    vapid_subject: str = "mailto:ioc@localhost"
    push_ttl_s: int = 86_400
    # Real push services are https only; tests run a local one over plain http.
    push_allow_http: bool = False
    # Every HTTP channel: one request's time limit.
    http_timeout_s: float = 10.0

    @property
    def email_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def telegram_configured(self) -> bool:
        return bool(self.telegram_token)

    @property
    def zalo_configured(self) -> bool:
        return bool(self.zalo_access_token)
