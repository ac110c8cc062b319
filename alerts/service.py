"""The `alerts` role assembled: rule files, the pipeline loop, delivery workers, scheduled jobs.

`ioc alerts` runs this alone; the embedded default (`ioc demo`, `ioc api --with-alerts`) runs it
inside the API process. Start-up refuses a broken rules or notification file (a command centre
should not run on half its rules), then:

- ``AlertPipeline`` evaluates the rules when data arrives (and every `alert_interval_seconds`)
  and plans notifications every `notify_interval_seconds`;
- ``DeliveryWorkers`` drain the delivery outbox, one task per channel;
- APScheduler runs retention, reports and indicator-history jobs (alerts/scheduler.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import AsyncConnectionPool

from alerts.calendar import WorkingCalendar
from alerts.delivery.email import EmailSender
from alerts.delivery.errors import PermanentError
from alerts.delivery.metrics import DeliveryMetrics
from alerts.delivery.model import Channel
from alerts.delivery.outbox import DeliveryRow
from alerts.delivery.sender import Sender
from alerts.delivery.settings import DeliverySettings
from alerts.delivery.telegram import TelegramSender
from alerts.delivery.webhook import WebhookSender
from alerts.delivery.webpush import WebPushSender
from alerts.delivery.workers import DeliveryWorkers
from alerts.delivery.zalo import ZaloSender
from alerts.interop.store import expire_external_alerts
from alerts.notify.config import load_notify_file
from alerts.notify.dispatcher import dispatch_once
from alerts.pipeline import AlertPipeline, PipelineTiming
from alerts.rulebook.loader import load_rules_file
from alerts.scheduler import start_alert_scheduler
from alerts.shell import AlertEngine
from ioc.db.pool import Conn
from ioc.metrics import Metrics
from ioc.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["AlertService", "delivery_settings"]


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        public_url=settings.public_url, smtp_host=settings.smtp_host, smtp_port=settings.smtp_port,
        smtp_user=settings.smtp_user, smtp_password=settings.smtp_password, smtp_from=settings.smtp_from,
        smtp_starttls=settings.smtp_starttls, smtp_ssl=settings.smtp_ssl,
        telegram_base_url=settings.telegram_base_url, telegram_token=settings.telegram_token,
        zalo_base_url=settings.zalo_base_url, zalo_access_token=settings.zalo_access_token,
        vapid_private_key_path=settings.vapid_key_path, vapid_subject=settings.vapid_subject,
    )  # fmt: skip


class UnconfiguredChannel:
    """Stands in for a channel without settings: its messages become dead letters an admin sees
    (and can retry once the channel is configured) instead of waiting unseen forever."""

    def __init__(self, channel: Channel, missing: str) -> None:
        self._reason = f"kênh {channel.value} chưa được cấu hình ({missing}) / channel not configured"

    async def send(self, row: DeliveryRow) -> None:
        raise PermanentError(self._reason)


def build_senders(pool: AsyncConnectionPool[Conn], config: DeliverySettings) -> dict[Channel, Sender]:
    senders: dict[Channel, Sender] = {
        Channel.WEBHOOK: WebhookSender(config),
        Channel.WEBPUSH: WebPushSender(pool, config),
        Channel.EMAIL: EmailSender(config) if config.email_configured
        else UnconfiguredChannel(Channel.EMAIL, "IOC_SMTP_HOST"),
        Channel.TELEGRAM: TelegramSender(config) if config.telegram_configured
        else UnconfiguredChannel(Channel.TELEGRAM, "IOC_TELEGRAM_TOKEN"),
        Channel.ZALO: ZaloSender(config) if config.zalo_configured
        else UnconfiguredChannel(Channel.ZALO, "IOC_ZALO_ACCESS_TOKEN"),
    }  # fmt: skip
    return senders


class AlertService:
    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        url: str,
        settings: Settings,
        calendar: WorkingCalendar,
        metrics: Metrics,
        *,
        senders: Mapping[Channel, Sender] | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._calendar = calendar
        self._engine = AlertEngine(calendar, metrics)
        self._metrics = metrics
        self._senders = dict(senders) if senders is not None else build_senders(pool, delivery_settings(settings))
        self._workers = DeliveryWorkers(pool, self._senders, metrics=DeliveryMetrics(metrics.registry))
        timing = PipelineTiming(
            evaluate_every=settings.alert_interval_seconds, plan_every=settings.notify_interval_seconds
        )
        self._pipeline = AlertPipeline(pool, url, self._evaluate, self._plan, timing)
        self._scheduler: AsyncIOScheduler | None = None

    async def load_files(self) -> None:
        """Validate and apply the rules and notification files; raises on a broken file."""
        async with self._pool.connection() as conn:
            if self._settings.alert_rules_file is not None:
                report = await load_rules_file(conn, self._settings.alert_rules_file)
                log.info("alert rules file %s: %s", self._settings.alert_rules_file, report)
            if self._settings.notify_file is not None:
                await load_notify_file(conn, self._settings.notify_file)
                log.info("notification file %s loaded", self._settings.notify_file)

    async def start(self) -> None:
        await self.load_files()
        self._workers.start()
        self._pipeline.start()
        self._scheduler = start_alert_scheduler(self._pool, self._settings.retention_days)

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self._pipeline.stop()
        await self._workers.stop()
        for sender in self._senders.values():
            close = getattr(sender, "aclose", None)
            if close is not None:
                await close()

    async def run_once(self) -> None:
        """One evaluation and one planning round now (tests and benchmarks)."""
        await self._pipeline.run_once(evaluate=True)

    async def _evaluate(self, conn: Conn, now: datetime, streams: frozenset[str] | None) -> None:
        if streams is None:
            await self._engine.run_once(conn, now)
            await expire_external_alerts(conn, now)
            return
        for stream in sorted(streams):
            await self._engine.run_for_stream(conn, now, stream)

    async def _plan(self, conn: Conn, now: datetime) -> None:
        s = self._settings
        await dispatch_once(
            conn, now, self._calendar,
            reminder_lead=timedelta(minutes=s.notify_reminder_lead_minutes),
            resolved_lookback=timedelta(hours=s.notify_resolved_lookback_hours), metrics=self._metrics,
        )  # fmt: skip
