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


#: (table, column, type) added to schema.sql since the first release of the file format.
ADDED_COLUMNS = (
    ("jobs", "skipped_releases", "TEXT"),
    ("jobs", "notes", "TEXT"),
    ("jobs", "write_token", "TEXT"),
    ("jobs", "worker", "TEXT"),
    ("jobs", "servers", "TEXT"),
    ("jobs", "playable_at", "TEXT"),
    ("watch_history", "position_seconds", "REAL"),
    ("jobs", "media", "TEXT"),
    ("jobs", "notify_url", "TEXT"),
)


def add_new_columns(executor: Executor) -> list[str]:
    """Add the columns schema.sql gained after a database was created (``CREATE TABLE IF NOT
    EXISTS`` leaves an existing table alone): the local SQLite file at start, D1 when the schema is
    applied. Two round trips at most (read the tables, add what is missing); returns what it added."""
    tables = sorted({table for table, _, _ in ADDED_COLUMNS})
    infos = executor.execute([Statement(f"PRAGMA table_info({table})") for table in tables])
    present = {
        (table, row["name"]) for table, rows in zip(tables, infos, strict=True) for row in rows
    }
    missing = [item for item in ADDED_COLUMNS if (item[0], item[1]) not in present]
    if missing:
        executor.execute(
            [
                Statement(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                for table, column, kind in missing
            ]
        )
    return [f"{table}.{column}" for table, column, _ in missing]


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``count`` values."""
    return ", ".join("?" * count)


def status_values(values: Iterable[JobStatus]) -> tuple[str, ...]:
    return tuple(str(status) for status in values)
