"""Fixtures for the downloader tests: releases posted to real NNTP test servers on 127.0.0.1, and
the Fargate task's whole environment (``task``): job store, indexer, news servers, work folder."""

from __future__ import annotations

import os
import random
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import Job, JobStatus, new_job_id, to_iso, utcnow
from downloader.usenet.engine import EngineOptions
from sandbox.nntp_server import Knobs, NntpTestServer
from sandbox.posting import Release, make_release
from tests.conftest import R2_BUCKET

#: Short timeouts and back-off so failure paths take milliseconds, not the production seconds.
FAST = EngineOptions(timeout=5.0, backoff=0.01, progress_interval=0.05)

Serve = Callable[..., NntpTestServer]


def payload(size: int, seed: int = 1) -> bytes:
    """Random bytes, plus every byte value yEnc must escape, plus runs that make dot-led lines."""
    rng = random.Random(seed)
    special = bytes([0, 10, 13, 61, 4, 214, 19, 227]) * 64  # '.'-42=4, '='-42=19 …
    return (special + rng.randbytes(size))[:size]


@pytest.fixture
def release() -> Release:
    files = {
        "Movie.2024.1080p.mkv": payload(700_000, 1),
        "Movie.2024.1080p.par2": payload(3_000, 2),
    }
    return make_release(files, segment_size=50_000)


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[NntpTestServer] = []

    def start(release: Release, **knobs: object) -> NntpTestServer:
        server = NntpTestServer(release.articles, Knobs(**knobs))  # type: ignore[arg-type]
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


INDEXER_KEY = "indexer-key-do-not-leak"


@dataclass
class Indexer:
    """A Newznab ``t=get`` endpoint on 127.0.0.1 serving known NZBs; it records what it was asked."""

    nzbs: dict[str, bytes]
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def indexer() -> Iterator[Indexer]:
    state = Indexer({})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.requests.append(query)
            if query.get("apikey") != [INDEXER_KEY]:
                self.send_response(401)
                self.end_headers()
                return
            body = state.nzbs.get((query.get("id") or [""])[0])
            if parts.path != "/api" or body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-nzb")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Task:
    """The task's environment, as the task definition and the dispatcher would set it."""

    env: pytest.MonkeyPatch
    indexer: Indexer
    nntp: list[NntpTestServer]
    work: Path
    store: JobStore

    def serve(self, release: Release, **knobs: Any) -> NntpTestServer:
        server = NntpTestServer(release.articles, Knobs(**knobs)).start()
        self.nntp.append(server)
        self.offer(release, server.url())
        return server

    def offer(self, release: Release, servers: str) -> None:
        """The indexer hands out ``release``'s NZB and the task reads from ``servers``."""
        self.indexer.nzbs["r1"] = release.nzb
        self.env.setenv("NNTP_SERVERS", servers)

    def claimed_job(self, status: JobStatus = JobStatus.DOWNLOADING) -> JobMessage:
        """A job as the dispatcher leaves it (claimed: ``downloading``) and the message it sends."""
        now = utcnow()
        job = Job(
            job_id=new_job_id(now),
            movie_id=550,
            status=JobStatus.QUEUED,
            created_at=to_iso(now),
            updated_at=to_iso(now),
        )
        self.store.create_job(job)
        if status is not JobStatus.QUEUED:
            claimed = self.store.transition(
                job.job_id, from_statuses=[JobStatus.QUEUED], to=status, now=to_iso(now)
            )
            assert claimed is not None
        message = JobMessage(
            job_id=job.job_id, movie_id=550, release_id="r1", release_title="Movie.2024.1080p-GRP"
        )
        self.env.setenv("JOB_MESSAGE", message.model_dump_json())
        return message

    def job(self, message: JobMessage) -> Job:
        job = self.store.get_job(message.job_id)
        assert job is not None
        return job

    def leftovers(self) -> list[Path]:
        """What the task left in its work folder (it must clean up on success and failure)."""
        jobs = self.work / "jobs"
        return list(jobs.iterdir()) if jobs.exists() else []


@pytest.fixture
def task(
    env: pytest.MonkeyPatch,
    s3: S3Client,
    tmp_path: Path,
    indexer: Indexer,
    servers: list[NntpTestServer],
) -> Iterator[Task]:
    work = tmp_path / "data"
    env.setenv("WORK_DIR", str(work))
    env.setenv("NZBGEEK_BASE_URL", indexer.url)
    env.setenv("NZBGEEK_API_KEY", INDEXER_KEY)
    env.setenv("JOB_CACHE_SECONDS", "0")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        # The test's own view of the store: the same SQLite file, never cached.
        store = JobStore(SqliteExecutor(os.environ["SQLITE_PATH"]), cache_seconds=0)
        yield Task(env, indexer, servers, work, store)
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() installs its own handler


def open_uploads(s3: S3Client) -> list[Any]:
    return list(s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []))
