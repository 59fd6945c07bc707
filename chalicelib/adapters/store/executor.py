"""What a job store backend must do: run a batch of statements in one round trip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chalicelib.domain.jobs import JobStatus

Row = dict[str, Any]
Param = str | int | float | None

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schema.sql"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Param, ...] = ()


class Executor(Protocol):
    """Runs statements as one batch (one transaction, one network round trip) and returns the rows
    each statement produced (``RETURNING`` rows for writes), in order."""

    #: Round trips made so far; tests and benchmarks count them against the D1 budget.
    round_trips: int

    def execute(self, statements: list[Statement]) -> list[list[Row]]: ...


def schema_statements(path: Path = SCHEMA_PATH) -> list[Statement]:
    """``schema.sql`` split into statements (it holds no triggers, so ``;`` ends each one)."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")]
    return [Statement(part.strip()) for part in "\n".join(lines).split(";") if part.strip()]


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``count`` values."""
    return ", ".join("?" * count)


def status_values(values: Iterable[JobStatus]) -> tuple[str, ...]:
    return tuple(str(status) for status in values)
