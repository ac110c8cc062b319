"""Prometheus metrics of the delivery workers, in the registry the caller passes (the app's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["DeliveryMetrics"]


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.messages = Counter(
            "ioc_delivery_messages_total", "Send attempts by channel and outcome (delivered, retry, dead)",
            ["channel", "result"], registry=r,
        )  # fmt: skip
        self.send_seconds = Histogram(
            "ioc_delivery_send_duration_seconds", "Time of one send attempt", ["channel"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r,
        )  # fmt: skip
        self.latency_seconds = Histogram(
            "ioc_delivery_latency_seconds", "From enqueue to delivered, retries included", ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600), registry=r,
        )  # fmt: skip
