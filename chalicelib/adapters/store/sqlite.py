"""The embedded backend: a local SQLite file in WAL mode, one connection per thread.

WAL lets readers proceed while a writer commits; ``BEGIN IMMEDIATE`` for batches that write takes the
write lock up front so two concurrent batches queue instead of failing on a lock upgrade.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from chalicelib.adapters.store.executor import Row, Statement, schema_statements
from chalicelib.errors import StorageError
from chalicelib.logs import logger

#: (table, column, type) added to schema.sql since the first release of the file format.
ADDED_COLUMNS = (
    ("jobs", "skipped_releases", "TEXT"),
    ("jobs", "notes", "TEXT"),
    ("jobs", "write_token", "TEXT"),
    ("jobs", "worker", "TEXT"),
    ("watch_history", "position_seconds", "REAL"),
    ("jobs", "media", "TEXT"),
)


class SqliteExecutor:
    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self.round_trips = 0
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self.execute(schema_statements())
        self._add_new_columns()

    def _add_new_columns(self) -> None:
        """Columns added to schema.sql after a local file was created (``CREATE TABLE IF NOT
        EXISTS`` leaves an existing table alone), so an old ``make run`` database keeps working."""
        for table, column, kind in ADDED_COLUMNS:
            present = {
                row["name"] for row in self.execute([Statement(f"PRAGMA table_info({table})")])[0]
            }
            if column not in present:
                self.execute([Statement(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")])

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, isolation_level=None, timeout=self._busy_timeout_ms / 1000
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            self._local.connection = connection
        return connection

    def execute(self, statements: list[Statement]) -> list[list[Row]]:
        self.round_trips += 1
        connection = self._connection()
        writes = any(not s.sql.lstrip().upper().startswith("SELECT") for s in statements)
        try:
            connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            try:
                results = [
                    [dict(row) for row in connection.execute(s.sql, s.params).fetchall()]
                    for s in statements
                ]
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            logger.error("sqlite error", extra={"error": str(exc), "path": str(self._path)})
            raise StorageError(f"job store error: {exc}") from None
        return results

    def close(self) -> None:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
