"""Prometheus metrics: requests by route and code, latency per stage, queue depth, model state, caches."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "Metrics", "RequestMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STATES = ("loading", "ready", "failed", "draining")


class _LiveValues(Collector):
    """Gauges read at scrape time from the running service."""

    def __init__(self, read: Callable[[], dict[str, float]], state: Callable[[], str]) -> None:
        self._read = read
        self._state = state

    def collect(self) -> list[GaugeMetricFamily]:
        values = self._read()
        families = []
        for name, documentation in (
            ("faceswap_queue_waiting", "Requests waiting for a worker slot."),
            ("faceswap_queue_running", "Requests being processed."),
            ("faceswap_cache_hits", "Cache hits since start, by cache."),
            ("faceswap_cache_misses", "Cache misses since start, by cache."),
            ("faceswap_content_refused", "Targets the content guard refused since the models loaded."),
        ):
            if name.startswith("faceswap_cache"):
                family = GaugeMetricFamily(name, documentation, labels=["cache"])
                for cache in ("embeddings", "detections"):
                    family.add_metric([cache], values.get(f"{name}:{cache}", 0.0))
            else:
                family = GaugeMetricFamily(name, documentation, value=values.get(name, 0.0))
            families.append(family)
        state = GaugeMetricFamily("faceswap_model_state", "1 for the current model state.", labels=["state"])
        current = self._state()
        for name in STATES:
            state.add_metric([name], 1.0 if name == current else 0.0)
        families.append(state)
        return families


class Metrics:
    """One registry per app, so several apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceswap_requests",
            "Requests answered, by route and outcome code.",
            ["route", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "faceswap_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "faceswap_stage_seconds",
            "Time per pipeline stage.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.recoveries = Counter(
            "faceswap_oom_recoveries", "Out-of-memory failures recovered from.", registry=self.registry
        )
        self.jobs_evicted = Counter(
            "faceswap_jobs_evicted",
            "Finished jobs removed with their results, by reason (ttl, disk).",
            ["reason"],
            registry=self.registry,
        )

    def watch(self, read: Callable[[], dict[str, float]], state: Callable[[], str]) -> None:
        """Report live values (queue depth, cache counts, model state) at every scrape."""
        self.registry.register(_LiveValues(read, state))

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        """Record one request's stage timings."""
        for stage, milliseconds in timings_ms.items():
            self.stages.labels(stage).observe(milliseconds / 1000.0)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class RequestMetrics:
    """Counts every answer by route and outcome (`ok` or the error code) and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        crashed = False
        try:
            await self.app(scope, receive, record_status)
        except Exception:
            crashed = True
            raise
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            code = "INTERNAL" if crashed else scope.get("state", {}).get("error_code")
            code = code or ("ok" if status < 400 else f"HTTP_{status}")
            self.metrics.requests.labels(route, code).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
