"""The D1 gateway's allow-list: every statement shape ``JobStore`` issues, as anchored regexes.

The gateway Worker (``infra/d1-gateway/worker.js``) runs only statements matching one of these, so a
leaked gateway token can do what the job store does and nothing more (no DROP, no reads of other
tables, no DDL). The list is generated, never written by hand: ``recorded_statements`` drives every
``JobStore`` method on an in-memory SQLite database with the widest variants (every column set,
every status filtered), and ``shape`` turns each recorded statement into a pattern in which only
the lists that vary between calls may vary:

- runs of placeholders (``IN (?, ?, ?)``, ``VALUES (?, ?)``) may have any length,
- runs of ``column = ?`` assignments may name any subset of the jobs table's columns, in any order
  (``transition`` sets the columns a caller changes),
- a parenthesised list of jobs-table columns may be any subset (``create_job`` inserts the fields
  that are set).

Everything else (tables, clauses, literals) must match exactly. ``make package`` writes the list for
Terraform; the tests hand it to the Worker under miniflare, so a statement the store issues that is
missing here fails the job-store suite on the gateway backend.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from chalicelib.adapters.store.executor import Executor, Row, Statement
from chalicelib.adapters.store.jobs import JobStore
from chalicelib.adapters.store.records import JOB_COLUMNS, UPDATABLE, MovieMetadata
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.jobs import ACTIVE_STATUSES, LISTABLE_STATUSES, Job, JobStatus


def _alternatives(names: Iterable[str]) -> str:
    return "(?:" + "|".join(sorted(names, key=len, reverse=True)) + ")"


_COLUMN = _alternatives(JOB_COLUMNS)
#: A row's identity and birth are never assigned, whatever else a transition sets.
_ASSIGNABLE = _alternatives(set(JOB_COLUMNS) - {"job_id", "movie_id", "created_at"})
_LISTS = re.compile(
    rf"(?P<assign>{_ASSIGNABLE} = \?(?:, {_ASSIGNABLE} = \?)+)"
    rf"|(?<=\()(?P<columns>{_COLUMN}(?:, {_COLUMN})+)(?=\))"
    r"|(?P<marks>\?(?:, \?)+)"
)
_PATTERNS = {
    "assign": rf"{_ASSIGNABLE} = \?(?:, {_ASSIGNABLE} = \?)*",
    "columns": rf"{_COLUMN}(?:, {_COLUMN})*",
    "marks": r"\?(?:, \?)*",
}
_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}/])")


def _escape(text: str) -> str:
    """Escape for both Python's and JavaScript's regex syntax (``re.escape`` escapes characters,
    such as space and ``#``, that JavaScript's unicode mode rejects)."""
    return _SPECIAL.sub(r"\\\1", text)


def shape(sql: str) -> str:
    """The (unanchored) pattern a recorded statement stands for (see the module docstring)."""
    parts: list[str] = []
    position = 0
    for match in _LISTS.finditer(sql):
        parts.append(_escape(sql[position : match.start()]))
        parts.append(_PATTERNS[str(match.lastgroup)])
        position = match.end()
    parts.append(_escape(sql[position:]))
    return "".join(parts)


class _Recorder:
    """An executor that runs statements on SQLite and keeps their SQL."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self.sql: list[str] = []
        self.round_trips = 0

    def execute(self, statements: list[Statement]) -> list[list[Row]]:
        self.sql.extend(statement.sql for statement in statements)
        self.round_trips += 1
        return self._inner.execute(statements)


def recorded_statements(workdir: Path) -> list[str]:
    """The SQL of every ``JobStore`` method, called with its widest variant, in call order."""
    now = "2026-11-01T12:00:00.000Z"
    recorder = _Recorder(SqliteExecutor(workdir / "allowlist.sqlite3"))
    store = JobStore(recorder, cache_seconds=0)
    full = {f.name: _sample(f.name) for f in fields(Job)}
    job = Job(**{**full, "status": JobStatus.QUEUED})  # type: ignore[arg-type]
    metadata = MovieMetadata(job.movie_id, "Title", "/p.jpg", "/b.jpg", "Overview")
    store.create_job(job, metadata)
    store.get_job(job.job_id)
    store.latest_job(job.movie_id)
    store.list_jobs(LISTABLE_STATUSES, 10, 0)
    store.job_with_metadata(job_id=job.job_id)
    store.job_with_metadata(movie_id=job.movie_id)
    changes: dict[str, Any] = {name: full[name] for name in sorted(UPDATABLE)}
    store.transition(
        job.job_id, from_statuses=ACTIVE_STATUSES, to=JobStatus.READY, now=now, **changes
    )
    store.take(job.job_id, worker="w", now=now)
    store.record_watch(job, now=now, expires_at=now, metadata=metadata, remember_metadata=True)
    store.save_position(job.movie_id, 1.5)
    store.history(10, 0)
    store.figures(ready_since=now, errors_since=now)
    store.sweep(now=now, stale_before=now, purge_before=now, ready_before=now)
    store.objects_removed([job.job_id, "other"], now=now)
    return recorder.sql


def _sample(name: str) -> object:
    if name == "movie_id":
        return 550
    if name in {"progress", "speed_bps"}:
        return 0.5
    if name in {"downloaded_bytes", "total_bytes", "eta_seconds", "size_bytes"}:
        return 1
    if name == "job_id":
        return "job_1_a"
    if name in {"servers", "skipped_releases", "notes", "media"}:
        return "[]" if name != "media" else "{}"  # JSON columns: some statements read into them
    return "x"


def allowlist() -> list[str]:
    """The distinct patterns, in a stable order (so the packaged file changes only with the SQL)."""
    with tempfile.TemporaryDirectory(prefix="allowlist-") as workdir:
        return sorted({shape(sql) for sql in recorded_statements(Path(workdir))})


def write_allowlist(path: Path) -> None:
    path.write_text(json.dumps(allowlist(), indent=1) + "\n")
