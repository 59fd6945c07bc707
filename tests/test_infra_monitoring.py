"""The dashboard and alarms against the metrics the code really emits (infra/terraform/monitoring.tf)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.logs import SERVICE
from tests.infra_model import (
    ROOT,
    SEARCH,
    default,
    emitted_metrics,
    module,
)

# --- monitoring: the metrics the code emits ------------------------------------------------------


def infra_metrics() -> set[str]:
    """Metrics Terraform itself defines (log metric filters)."""
    return {
        transformation["name"]
        for body in module().resources["aws_cloudwatch_log_metric_filter"].values()
        for transformation in body["metric_transformation"]
    }


def referenced_app_metrics() -> list[tuple[str, str, frozenset[str]]]:
    """(where, metric, dimension names) for every use of the code's namespace in alarms and the
    dashboard."""
    namespace = "${var.metrics_namespace}"
    found: list[tuple[str, str, frozenset[str]]] = []
    for name, alarm in module().resources["aws_cloudwatch_metric_alarm"].items():
        blocks: list[dict[str, Any]] = []
        if "metric_name" in alarm:
            blocks.append(alarm)
        for query in alarm.get("metric_query", []):
            blocks.extend(query.get("metric", []))
        for dynamic in alarm.get("dynamic", []):
            for content in dynamic.get("metric_query", {}).get("content", []):
                blocks.extend(content.get("metric", []))
        for block in blocks:
            if block["namespace"] == namespace:
                dims = frozenset(block.get("dimensions", {}))
                found.append((f"alarm {name}", block["metric_name"], dims))
    for widget in module().locals["dashboard_widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            if isinstance(metric[0], dict):
                search = SEARCH.search(metric[0]["expression"])
                assert search, metric[0]["expression"]
                if search.group(1) == namespace:
                    dims = frozenset(d for d in search.group(2).split(",") if d)
                    found.append(("dashboard search", search.group(3), dims))
            elif metric[0] == namespace:
                parts = [p for p in metric[2:] if isinstance(p, str)]
                found.append(("dashboard", metric[1], frozenset(parts[0::2])))
    return found


def test_dashboard_and_alarms_read_the_metrics_the_code_emits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    emitted = emitted_metrics(capsys)
    assert {"ApiErrors", "UpstreamThrottled", "JobsFailed", "CleanupFailures"} <= set(emitted)
    assert module().locals["service"] == SERVICE
    references = referenced_app_metrics()
    assert len(references) >= 20
    for where, metric, dims in references:
        if metric in infra_metrics():
            continue
        assert metric in emitted, f"{where}: {metric} is not emitted by the code"
        assert dims in emitted[metric], f"{where}: {metric} {sorted(dims)} vs {emitted[metric]}"


def test_dimension_values_match_the_code() -> None:
    d1_source = (ROOT / "chalicelib" / "adapters" / "store" / "d1.py").read_text()
    assert re.search(r'logged_request\(\s*self\._session,\s*"d1",', d1_source)
    alarm = module().resource("aws_cloudwatch_metric_alarm", "d1_throttled")
    assert alarm["dimensions"] == {"target": "d1", "outcome": "429", "service": "${local.service}"}
    folders = (ROOT / "downloader", ROOT / "chalicelib" / "services")
    sources = "".join(p.read_text() for folder in folders for p in folder.rglob("*.py"))
    for error_class in default("alarm_job_failure_classes"):
        assert f'"{error_class}"' in sources, f"no job failure is classed {error_class!r}"


def test_dashboard_shows_every_metric_the_readme_explains() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Operating it", 1)[1].split("\n## ", 1)[0]
    explained = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            explained |= set(re.findall(r"`([A-Z]\w+)`", row.split("|")[1]))
    assert len(explained) >= 10
    shown = {
        metric for where, metric, _ in referenced_app_metrics() if where.startswith("dashboard")
    }
    assert explained <= shown, f"on no dashboard widget: {sorted(explained - shown)}"


def test_alarms_cover_the_failures_and_notify_the_topic() -> None:
    alarms = module().resources["aws_cloudwatch_metric_alarm"]
    for body in alarms.values():
        assert body["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
        assert body["treat_missing_data"] == "notBreaching"
    text = json.dumps(alarms)
    assert '"QueueName": "${aws_sqs_queue.jobs_dlq.name}"' in text  # DLQ not empty
    assert '"metric_name": "JobsFailed"' in text  # task failures: recorded by the job...
    assert '"metric_name": "DownloaderTaskCrashes"' in text  # ...or the task died without
    assert '"metric_name": "5XXError"' in text  # API 5xx rate
    assert '"metric_name": "UpstreamThrottled"' in text  # D1 429s
    assert '"metric_name": "CleanupFailures"' in text  # cleanup failures
    subscription = module().resource("aws_sns_topic_subscription", "alarm_email")
    assert subscription["endpoint"] == "${var.alarm_email}"
    assert subscription["protocol"] == "email"
    body = module().resource("aws_cloudwatch_dashboard", "main")["dashboard_body"]
    assert body == "${jsonencode({widgets = local.dashboard_widgets})}"
