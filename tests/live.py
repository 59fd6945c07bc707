"""The whole service running for real in a test: the sandbox stand-ins, moto's S3 server and the app.

Used by the end-to-end, fault and security tests. The app is driven through the contract-checking
``api`` client; ``DISPATCH=local`` makes each fetch start ``python -m downloader run`` as a subprocess,
exactly as ``make run`` and ``make demo`` do, which then talks to the stand-ins over loopback. Waiting
for a job polls with a deadline and fails with the job and the downloader's log, so a broken stack
says what broke instead of hanging.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import bootstrap
from sandbox.stack import Stack, start_stack
from tests.conftest import ApiClient, ApiResponse

API = "/api/movies-on-demand"
SETTLED = frozenset({"ready", "error", "deleted"})
#: Generous: the demo movie is ready in about a second; a loaded CI machine may be much slower.
DEADLINE_SECONDS = 120.0
FIGHT_CLUB = 550


#: Length of the sandbox's movie, in seconds.
MOVIE_SECONDS = 3.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stand-ins, started once per test module (building the release takes a few seconds)."""
    with start_stack(tmp_path_factory.mktemp("sandbox"), seconds=MOVIE_SECONDS) as running:
        yield running


@pytest.fixture
def live(
    api: ApiClient, env: pytest.MonkeyPatch, s3_server: str, stack: Stack, tmp_path: Path
) -> Iterator[Live]:
    """The app pointed at the stand-ins; faults a test scripted are undone afterwards."""
    point_app_at(env, stack, tmp_path)
    yield Live(api, stack, tmp_path)
    stack.reset_faults()


def point_app_at(env: pytest.MonkeyPatch, stack: Stack, tmp_path: Path) -> None:
    """Settings for the app and the downloaders it starts: the stand-ins, a work folder per test."""
    for name, value in stack.environment().items():
        env.setenv(name, value)
    env.setenv("WORK_DIR", str(tmp_path / "work"))
    bootstrap.reset()


class Live:
    """The API as a client sees it, plus what a test needs to explain a failure."""

    def __init__(self, api: ApiClient, stack: Stack, tmp_path: Path) -> None:
        self.api = api
        self.stack = stack
        self.tmp_path = tmp_path

    def get(self, path: str, headers: dict[str, str] | None = None) -> ApiResponse:
        return self.api.get(API + path, headers=headers)

    def fetch(self, movie_id: int, body: dict[str, Any] | None = None) -> ApiResponse:
        payload = json.dumps(body or {"mode": "auto", "quality_preference": "1080p"})
        headers = {"Content-Type": "application/json"}
        return self.api.post(f"{API}/movies/{movie_id}/fetch", body=payload, headers=headers)

    def release_id(self, movie_id: int, group: str) -> str:
        """The id of the release whose title ends with ``-group`` (e.g. ``LOCKED``, ``FAKE``)."""
        listing = self.get(f"/movies/{movie_id}/releases").json
        for release in listing["releases"]:
            if release["title"].endswith(f"-{group}"):
                return str(release["release_id"])
        raise AssertionError(f"no -{group} release in {listing}")

    def wait(self, job_id: str, *, until: frozenset[str] = SETTLED) -> dict[str, Any]:
        """Poll the job until its status is in ``until``; fails with the evidence at the deadline."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            job: dict[str, Any] = self.get(f"/jobs/{job_id}").json
            if job["status"] in until:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"job {job_id} still {job['status']} after {DEADLINE_SECONDS:.0f} s: {job}\n"
                    f"downloader log:\n{self.downloader_log(job_id)}"
                )
            time.sleep(0.2)

    def downloader_log(self, job_id: str, last: int | None = 25) -> str:
        """The ``last`` lines (None: all) the job's downloader wrote (one log per job)."""
        path = self.tmp_path / "logs" / f"{job_id}.log"
        if not path.exists():
            return "(no downloader log: the downloader never started)"
        lines = path.read_text(errors="replace").splitlines()
        return "\n".join(lines if last is None else lines[-last:])

    def work_leftovers(self) -> list[Path]:
        """Files left in the downloaders' work folder (every job must clean up after itself)."""
        work = self.tmp_path / "work"
        return sorted(p for p in work.rglob("*") if p.is_file()) if work.exists() else []
