"""The Terraform module as data (python-hcl2), and what the code reads and emits, for the infra tests."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2
import pytest
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import metrics
from chalicelib.domain.jobs import ErrorClass

ROOT = Path(__file__).resolve().parents[1]
TF_DIR = ROOT / "infra" / "terraform"
OVERRIDE = TF_DIR / "chalice_override.tf"
GENERATED = TF_DIR / "chalice.tf.json"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

INTERPOLATION = re.compile(r"\$\{(.*?)\}(?!\})", re.S)
SEARCH = re.compile(r"SEARCH\('\{(\$\{var\.\w+\}|[^,]+),([\w,]*)\}\s+MetricName=\\?\"(\w+)\\?\"")


# --- loading the module ----------------------------------------------------------------------------


def parse_hcl(path: Path) -> dict[str, Any]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=options)
    return parsed


class Module:
    """The hand-written .tf files of infra/terraform, merged by block kind."""

    def __init__(self, paths: list[Path]) -> None:
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.override: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.texts: dict[str, str] = {}
        for path in paths:
            self.texts[path.name] = path.read_text()
            parsed = parse_hcl(path)
            target = self.override if path.name.endswith("_override.tf") else self.resources
            for block in parsed.get("resource", []):
                for kind, named in block.items():
                    target.setdefault(kind, {}).update(named)
            for block in parsed.get("data", []):
                for kind, named in block.items():
                    self.data.setdefault(kind, {}).update(named)
            for block in parsed.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if k != "__comments__"})
            for block in parsed.get("variable", []):
                self.variables.update(block)
            for block in parsed.get("output", []):
                self.outputs.update(block)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]

    def local_keys(self, name: str) -> set[str]:
        """Keys of a local map, resolving ``merge(local.a, local.b)`` of local maps."""
        value = self.locals[name]
        if isinstance(value, dict):
            return set(value)
        names = re.fullmatch(r"\$\{merge\(((?:local\.\w+,?\s*)+)\)\}", value)
        assert names, f"local.{name} is neither a map nor a merge of local maps: {value}"
        keys: set[str] = set()
        for part in re.findall(r"local\.(\w+)", names.group(1)):
            keys |= self.local_keys(part)
        return keys


def load_script(name: str) -> ModuleType:
    """One of infra/scripts/*.py as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "infra" / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def secret_choices(value: str) -> set[str]:
    """The secrets a ``secret_settings`` entry may name: one, or either side of a conditional
    (``var.d1_gateway ? "d1_gateway_token" : "d1_token_api"``)."""
    if value.startswith("${"):
        return set(re.findall(r'"(\w+)"', value))
    return {value}


@cache
def module() -> Module:
    return Module(sorted(TF_DIR.glob("*.tf")))


@cache
def generated() -> dict[str, Any] | None:
    if not GENERATED.exists():
        return None
    loaded: dict[str, Any] = json.loads(GENERATED.read_text())
    return loaded


def needs_generated() -> dict[str, Any]:
    found = generated()
    if found is None:
        pytest.skip("chalice.tf.json is absent: run `make package` (make infra-check does)")
    return found


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def strings(value: Any) -> Iterator[str]:
    return (item for item in walk(value) if isinstance(item, str))


def chalice_config() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(CHALICE_CONFIG.read_text())
    return loaded


def default(variable: str) -> Any:
    return module().variables[variable]["default"]


# --- what the code reads and emits ---------------------------------------------------------------


def environment_reads() -> set[str]:
    """Names read with a literal through os.environ / os.getenv in the deployed code."""
    found: set[str] = set()
    paths = [
        ROOT / "app.py",
        *(ROOT / "chalicelib").rglob("*.py"),
        *(ROOT / "downloader").rglob("*.py"),
    ]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args:
                target = ast.unparse(node.func)
                if target in {"os.environ.get", "os.getenv"}:
                    first = node.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        found.add(first.value)
            if (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) == "os.environ"
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                found.add(node.slice.value)
    return found


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, set[frozenset[str]]]:
    """Metric name -> dimension sets, from EMF lines the metric helpers really print.

    The request and upstream helpers are called directly; every other metric is found where the code
    calls ``record_job_event`` or ``emit`` with literal names, and printed the same way."""
    capsys.readouterr()
    metrics.record_request("/x", "GET", 500, "INTERNAL_ERROR", 1.0)
    metrics.record_upstream("d1", 429, 1.0)
    for path in [*(ROOT / "chalicelib").rglob("*.py"), *(ROOT / "downloader").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name.endswith("record_job_event") and node.args:
                event = node.args[0]
                if isinstance(event, ast.Constant) and isinstance(event.value, str):
                    keywords = {k.arg for k in node.keywords if k.arg}
                    error_class: ErrorClass | None = (
                        "internal" if "error_class" in keywords else None
                    )
                    figures = dict.fromkeys(keywords - {"error_class"}, 1.0)
                    metrics.record_job_event(event.value, error_class=error_class, **figures)
            elif name == "emit" and len(node.args) >= 2:
                dims, values = node.args[0], node.args[1]
                if isinstance(dims, ast.Dict) and isinstance(values, ast.Dict):
                    metrics.emit(
                        {ast.literal_eval(k): "x" for k in dims.keys if k is not None},
                        {
                            ast.literal_eval(k): (MetricUnit.Count, 1.0)
                            for k in values.keys
                            if k is not None
                        },
                    )
    found: dict[str, set[frozenset[str]]] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == default("metrics_namespace")
            for dims in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    found.setdefault(metric["Name"], set()).add(frozenset(dims))
    return found
