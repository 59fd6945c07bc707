"""CloudWatch metrics as Embedded Metric Format lines (Powertools), with no exporter to run.

Each request and each upstream call prints one EMF JSON line to stdout; CloudWatch Logs turns them
into metrics in production, and locally (and in tests) they are simply log lines to read. Namespace:
``POWERTOOLS_METRICS_NAMESPACE`` (default ``MoviesOnDemand``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib.domain.jobs import ErrorClass
from chalicelib.domain.server_figures import OUTCOMES, ServerFigures
from chalicelib.logs import SERVICE


def emit(
    dimensions: dict[str, str],
    values: dict[str, tuple[MetricUnit, float]],
    metadata: dict[str, str] | None = None,
) -> None:
    """One EMF line: ``values`` (name → unit, value) under ``dimensions`` (plus the service)."""
    metrics = EphemeralMetrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MoviesOnDemand"),
        service=SERVICE,
    )
    for name, value in dimensions.items():
        metrics.add_dimension(name=name, value=value)
    for name, (unit, amount) in values.items():
        metrics.add_metric(name=name, unit=unit, value=amount)
    for key, text in (metadata or {}).items():
        metrics.add_metadata(key=key, value=text)
    metrics.flush_metrics()


def record_request(route: str, method: str, status: int, code: str | None, ms: float) -> None:
    """``ApiRequests``, ``ApiLatency`` and (for errors) ``ApiErrors`` by route, status and code."""
    values = {"ApiRequests": (MetricUnit.Count, 1.0), "ApiLatency": (MetricUnit.Milliseconds, ms)}
    if code is not None:
        values["ApiErrors"] = (MetricUnit.Count, 1.0)
    emit(
        {"route": f"{method} {route}", "status": str(status), "code": code or "OK"},
        values,
    )


def record_upstream(target: str, status: int | str, ms: float) -> None:
    """``UpstreamCalls`` and ``UpstreamLatency`` by target (tmdb, newznab, d1) and outcome; 429s are
    also counted as ``UpstreamThrottled`` so the Cloudflare API budget shows on a graph."""
    values = {
        "UpstreamCalls": (MetricUnit.Count, 1.0),
        "UpstreamLatency": (MetricUnit.Milliseconds, ms),
    }
    if str(status) == "429":
        values["UpstreamThrottled"] = (MetricUnit.Count, 1.0)
    emit({"target": target, "outcome": str(status)}, values)


def record_server_figures(figures: Sequence[ServerFigures]) -> None:
    """A job's per-server figures as it ends: ``ServerArticles`` by server and outcome (fetched,
    missing, corrupt), ``ServerBytes`` and ``ServerThroughput`` by server. The server dimension is
    its ``host:port`` label: never a user name or password."""
    for item in figures:
        for outcome in OUTCOMES:
            emit(
                {"server": item.server, "outcome": outcome},
                {"ServerArticles": (MetricUnit.Count, float(item.articles(outcome)))},
            )
        emit(
            {"server": item.server},
            {
                "ServerBytes": (MetricUnit.Bytes, float(item.bytes)),
                "ServerThroughput": (MetricUnit.BytesPerSecond, item.throughput_bps),
            },
        )


def record_job_event(event: str, *, error_class: ErrorClass | None = None, **values: float) -> None:
    """Job lifecycle metrics: ``JobsCreated``, ``JobsReady`` (with ``TimeToReady`` seconds) and
    ``JobsFailed`` by failure class, plus whatever figures the stage adds (bytes, rates)."""
    units = {
        "TimeToReady": MetricUnit.Seconds,
        "DownloadBytes": MetricUnit.Bytes,
        "DownloadThroughput": MetricUnit.BytesPerSecond,
        "UploadThroughput": MetricUnit.BytesPerSecond,
        "BytesFreed": MetricUnit.Bytes,
    }
    metrics = {event: (MetricUnit.Count, 1.0)}
    for name, value in values.items():
        metrics[name] = (units.get(name, MetricUnit.Count), float(value))
    emit({"error_class": error_class} if error_class else {}, metrics)
