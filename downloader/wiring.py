"""What the Fargate task is built from: its settings, the job store, R2, the indexer and the servers.

The API has its own composition root (``chalicelib.bootstrap``) with routes, TMDB, queues and caches
the task never uses; the task builds only what a job needs, with the same builders
(``chalicelib.adapters.builders``), so both processes reach D1, R2 and the indexer the same way.
Two steps, because their failures differ: without settings or a job store nothing can even be
reported (``open_store``); everything else is misconfiguration the job itself can be told about
(``task_context``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from chalicelib.adapters import builders
from chalicelib.adapters.store import JobStore
from chalicelib.settings import Settings, load_settings
from downloader.pipeline import TaskContext
from downloader.uploader import Uploader
from downloader.usenet.nzb import fetch_nzb
from downloader.usenet.servers import parse_servers


def open_store() -> tuple[Settings, JobStore]:
    """The settings and the job store; raises ``SettingsFailure`` when either cannot be had."""
    settings = load_settings()
    return settings, builders.job_store(settings)


def task_context(settings: Settings) -> TaskContext:
    """Everything else a job needs: news servers (``NNTP_SERVERS``), R2, the indexer and a work
    folder (``WORK_DIR``, Fargate's ephemeral storage). Raises ``SettingsFailure`` or
    ``ServerConfigError`` naming what is missing or malformed."""
    servers = parse_servers(os.environ.get("NNTP_SERVERS", ""))
    indexer = builders.indexer(settings)
    return TaskContext(
        uploader=Uploader(builders.object_store(settings)),
        servers=servers,
        get_nzb=lambda release_id: fetch_nzb(indexer, release_id),
        work_root=Path(os.environ.get("WORK_DIR") or tempfile.gettempdir()) / "jobs",
        retention_hours=settings.RETENTION_HOURS,
        max_release_bytes=int(settings.MAX_RELEASE_GB * 1e9),
    )
