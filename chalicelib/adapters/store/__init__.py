"""The job store: one ``JobStore`` whose SQL runs on either backend through an ``Executor``.

Both backends execute exactly the same statements from ``schema.sql`` and ``JobStore``, so the embedded
SQLite default used by ``make run`` and the tests exercises the SQL production sends to D1.
"""

from chalicelib.adapters.store.executor import Executor, Row, Statement
from chalicelib.adapters.store.jobs import JobStore

__all__ = ["Executor", "JobStore", "Row", "Statement"]
