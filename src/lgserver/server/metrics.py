"""What ``/metrics`` reports, in the Prometheus text format.

Each :class:`Metrics` has a registry of its own, so that two servers in
one process (as in the tests) count apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics", "Traffic"]


class Traffic(Collector):
    """Bytes and frames in and out: plain numbers the hub adds to on every
    read and write (cheaper than a counter's lock), reported as counters
    at each scrape."""

    __slots__ = ("bytes_received", "bytes_sent", "frames_received", "frames_sent")

    def __init__(self) -> None:
        self.bytes_received = 0
        self.bytes_sent = 0
        self.frames_received = 0
        self.frames_sent = 0

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "lgserver_received_bytes",
            "Bytes received from clients.",
            value=self.bytes_received,
        )
        yield CounterMetricFamily(
            "lgserver_sent_bytes", "Bytes sent to clients.", value=self.bytes_sent
        )
        yield CounterMetricFamily(
            "lgserver_received_frames",
            "Frames received from clients.",
            value=self.frames_received,
        )
        yield CounterMetricFamily(
            "lgserver_sent_frames", "Frames sent to clients.", value=self.frames_sent
        )


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.connections = Gauge(
            "lgserver_connections",
            "Open connections, by transport.",
            ["transport"],
            registry=registry,
        )
        self.sessions = Gauge(
            "lgserver_sessions",
            "Sessions, by whether they are connected or in their grace window.",
            ["state"],
            registry=registry,
        )
        self.traffic = Traffic()
        registry.register(self.traffic)
        self.resumes = Counter(
            "lgserver_resumes",
            "Sessions resumed on a new connection.",
            registry=registry,
        )
        self.closes = Counter(
            "lgserver_session_closes",
            "Sessions ended, by close code.",
            ["code"],
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "lgserver_store_commit_seconds",
            "Time to commit one batch of writes to the store.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
            registry=registry,
        )

    def watch_sessions(
        self, connected: Callable[[], float], detached: Callable[[], float]
    ) -> None:
        """Report the session gauges from these functions at each scrape."""
        self.sessions.labels("connected").set_function(connected)
        self.sessions.labels("detached").set_function(detached)

    def render(self) -> bytes:
        """Everything, in the Prometheus text exposition format."""
        return generate_latest(self.registry)
