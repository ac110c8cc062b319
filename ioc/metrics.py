"""Prometheus metrics, `ioc_<subsystem>_<what>_<unit>`, in one registry passed to whoever counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ioc.live.hub import HubMetrics


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.ingest_events = Counter(
            "ioc_ingest_events_total", "Ingested dossier events by result", ["stream", "result"], registry=r
        )
        self.ingest_batch_seconds = Histogram(
            "ioc_ingest_batch_duration_seconds", "Time to validate and commit one ingest batch", ["stream"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )  # fmt: skip
        self.ingest_batches_refused = Counter(
            "ioc_ingest_batches_refused_total", "Whole batches refused", ["stream", "reason"], registry=r
        )
        # The national portal's sync format (ioc/api/dvcqg.py): records (not derived events) by
        # result, and sign-ins by outcome (a run of "refused" is a one-stop system with a stale key).
        self.dvcqg_items = Counter(
            "ioc_dvcqg_items_total", "Portal-format records by service and result", ["service", "result"], registry=r
        )
        self.dvcqg_logins = Counter("ioc_dvcqg_logins_total", "Portal-format sign-ins", ["outcome"], registry=r)
        self.dossier_batches_caught_up = Counter(
            "ioc_ingest_dossier_batches_caught_up_total",
            "Dossier batches applied to state by the projector loop (acknowledged once stored, or left by a crash)",
            registry=r,
        )  # fmt: skip
        self.alert_transitions = Counter(
            "ioc_alerts_transitions_total", "Alert state transitions", ["rule", "to_state"], registry=r
        )
        self.alert_evaluation_seconds = Histogram(
            "ioc_alerts_evaluation_duration_seconds", "Time for one evaluation of all rules", registry=r
        )
        # alerts/notify/dispatcher.py: one notification planning round (every second), by stage.
        self.notify_round_seconds = Histogram(
            "ioc_alerts_notify_round_duration_seconds", "Time for one notification planning round, by stage",
            ["stage"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )  # fmt: skip
        self.notify_round_alerts = Gauge(
            "ioc_alerts_notify_round_alerts", "Alerts (firing, or resolved and still of interest) in the last round",
            registry=r,
        )  # fmt: skip
        # alerts/shell.py: a rule that raises is rolled back to its savepoint and counted; the
        # other rules of the round still commit. A round that fails as a whole is counted apart.
        self.alert_rule_failures = Counter(
            "ioc_alert_rule_failures_total", "Rule evaluations that raised (that rule's changes rolled back)",
            ["rule"], registry=r,
        )  # fmt: skip
        self.alert_evaluation_failures = Counter(
            "ioc_alert_evaluation_failures_total", "Evaluation rounds that failed as a whole (nothing committed)",
            registry=r,
        )  # fmt: skip
        self.alert_rule_max_new_alerts = Gauge(
            "ioc_alert_rule_max_new_alerts",
            "Default cardinality guard: most alerts one rule may open in one round (above it: one summary alert)",
            registry=r,
        )  # fmt: skip
        self.alert_cardinality_guard = Counter(
            "ioc_alert_cardinality_guard_trips_total",
            "Rounds in which a rule would have opened more alerts than its limit", ["rule"], registry=r,
        )  # fmt: skip
        self.alert_notify_payloads = Counter(
            "ioc_live_notify_payloads_total", "NOTIFY payloads sent on the live channel, by stream", ["stream"],
            registry=r,
        )  # fmt: skip
        self.ws_clients = Gauge("ioc_live_websocket_clients", "Connected WebSocket clients", registry=r)
        self.ws_dropped = Counter(
            "ioc_live_messages_dropped_total", "Messages dropped for slow clients (they get a snapshot)",
            registry=r,
        )  # fmt: skip
        self.ws_deltas = Counter("ioc_live_deltas_total", "Deltas published by the live hub", registry=r)
        self.notifications = Counter(
            "ioc_live_notifications_total", "PostgreSQL notifications received", ["channel"], registry=r
        )
        # ioc/loop_lag.py: how late each event loop ran a timer (the API's serving loop, the alerts thread's).
        self.event_loop_lag = Histogram(
            "ioc_event_loop_lag_seconds", "How much later than asked an event loop woke a sleeping task", ["loop"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )  # fmt: skip

    def hub_metrics(self) -> HubMetrics:
        return HubMetrics(clients=self.ws_clients.set, dropped=self.ws_dropped.inc, deltas=self.ws_deltas.inc)
