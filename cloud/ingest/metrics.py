"""Prometheus metrics of an ingest worker (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "tianshan_ingest_messages",
            "Messages received, by outcome",
            ["outcome"],
            registry=r,
        )
        self.rejected = Counter(
            "tianshan_ingest_rejected", "Messages rejected, by reason", ["reason"], registry=r
        )
        self.readings = Counter(
            "tianshan_ingest_readings", "Telemetry readings written to InfluxDB", registry=r
        )
        self.points = Counter("tianshan_ingest_points", "Points written to InfluxDB", registry=r)
        self.acked = Counter("tianshan_ingest_acked", "MQTT messages acknowledged", registry=r)
        self.retries = Counter(
            "tianshan_ingest_write_retries",
            "Failed writes that will be retried",
            ["store"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "tianshan_ingest_batch_seconds",
            "Time to make one batch durable (InfluxDB + SQL)",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.pending = Gauge(
            "tianshan_ingest_pending_messages", "Received, not yet durable", registry=r
        )
        self.connected = Gauge(
            "tianshan_ingest_broker_connected", "1 while connected to the broker", registry=r
        )
