"""Faults production will meet, through the running stack: each ends with the job in a truthful state
(ready when the fault could be ridden out, error saying why when not), one job per fetch, and nothing
left half-done (multipart uploads, work folders).

Unit-level versions exist and are not repeated: reconnects and give-ups per article
(``downloader/test_engine.py``), D1 retry rules (``test_d1_executor.py``), part retries and abort
(``test_upload.py``), SIGTERM in the reporter (``test_lifecycle.py``), the stale rule
(``test_cleanup.py``) and redelivery to the ECS dispatcher (``test_dispatch.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib import bootstrap
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import utcnow
from chalicelib.services.cleanup import CleanupService
from downloader.usenet.nzb import parse_nzb
from sandbox.stack import Stack
from tests.fakes import d1
from tests.fault_servers import D1OverHttp, S3Proxy
from tests.gateway import D1_BACKENDS, d1_backend
from tests.live import Live

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")
GODFATHER, SHAWSHANK = 238, 278


def rar_articles(stack: Stack) -> list[str]:
    files = parse_nzb(stack.release.nzb).files
    return [s.message_id for f in files if f.rar_volume is not None for s in f.segments]


def recovery_articles(stack: Stack) -> list[str]:
    files = parse_nzb(stack.release.nzb).files
    return [s.message_id for f in files if f.is_par2_recovery for s in f.segments]


def started_downloaders(live: Live, job_id: str) -> int:
    return live.downloader_log(job_id, last=None).count('"message":"downloader started"')


def downloader_pids() -> list[int]:
    """The ``python -m downloader run`` processes this test process started (its own children)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        for pid in (task / "children").read_text().split():
            cmdline = (
                Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
            )
            if b"downloader\x00run" in cmdline:
                pids.append(int(pid))
    return pids


def wait_until_downloading(live: Live, asked_before: int, running_before: set[int]) -> int:
    """The new downloader's pid once it has asked the Usenet server for an article. A downloader
    of an earlier job may still be running (it lingers after ``ready`` for its notifications), so
    only a process that was not running before the fetch (``running_before``) counts."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = [pid for pid in downloader_pids() if pid not in running_before]
        if pids and sum(live.stack.nntp.stats.bodies.values()) > asked_before:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError("the downloader never started downloading")


# (a) Usenet connections dropped in the middle of an article ----------------------------------------


def test_connections_dropped_mid_article_resume_without_loss_or_duplication(live: Live) -> None:
    dropped = rar_articles(live.stack)[:3]
    live.stack.nntp.knobs.drop.update(dict.fromkeys(dropped, 2))
    asked = {mid: live.stack.nntp.stats.bodies[mid] for mid in dropped}

    job = live.wait(live.fetch(GODFATHER).json["job_id"])

    assert job["status"] == "ready", live.downloader_log(job["job_id"])
    assert [live.stack.nntp.stats.bodies[mid] - asked[mid] for mid in dropped] == [3, 3, 3]
    assert job["downloaded_bytes"] == job["total_bytes"]
    assert live.get(f"/movies/{GODFATHER}/stream").status == 200


def test_an_article_that_always_breaks_the_connection_is_rebuilt_by_par2(live: Live) -> None:
    live.stack.nntp.knobs.drop[rar_articles(live.stack)[5]] = 1_000
    recovery = recovery_articles(live.stack)
    asked = sum(live.stack.nntp.stats.bodies[mid] for mid in recovery)

    job = live.wait(live.fetch(GODFATHER).json["job_id"])

    assert job["status"] == "ready", live.downloader_log(job["job_id"])
    assert sum(live.stack.nntp.stats.bodies[mid] for mid in recovery) > asked, "par2 repaired it"


def test_a_release_too_incomplete_to_repair_fails_with_the_figures(live: Live) -> None:
    live.stack.nntp.knobs.missing.update(rar_articles(live.stack)[4:14])

    job = live.wait(live.fetch(GODFATHER, {"mode": "auto"}).json["job_id"])

    assert job["status"] == "error"
    assert "missing" in job["error_message"]
    assert "recovery" in job["error_message"]
    assert live.work_leftovers() == []


# (b) the job store (D1) throttling, failing and not answering for a while ------------------------


@pytest.fixture(params=D1_BACKENDS)
def d1_live(
    live: Live, env: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[D1OverHttp]:
    """The stack on D1 behind a socket: our stand-in, and the gateway Worker on miniflare's D1."""
    server = D1OverHttp(d1_backend(request, tmp_path))
    for name, value in server.environment().items():
        env.setenv(name, value)
    bootstrap.reset()
    yield server
    server.server.stop()


def test_d1_throttling_and_errors_are_ridden_out_with_one_job(
    live: Live, d1_live: D1OverHttp
) -> None:
    d1_live.fake.fail_next(d1.rate_limited(1), d1.server_error(), RuntimeError("connection lost"))

    started = live.fetch(SHAWSHANK)
    job = live.wait(started.json["job_id"])

    assert started.status == 202
    assert job["status"] == "ready", live.downloader_log(job["job_id"])
    assert d1_live.fake.query("SELECT COUNT(*) AS n FROM jobs") == [{"n": 1}]


def test_d1_not_answering_for_a_while_is_ridden_out(live: Live, d1_live: D1OverHttp) -> None:
    started = live.fetch(SHAWSHANK)
    d1_live.stall_seconds, d1_live.stalls = 10.5, 1  # the executor gives up on a call after 10 s

    job = live.wait(started.json["job_id"])

    assert job["status"] == "ready", live.downloader_log(job["job_id"])
    assert d1_live.stalls == 0, "the stall must have been met"


def test_a_lost_reply_after_the_job_was_written_still_runs_the_job(
    live: Live, d1_live: D1OverHttp
) -> None:
    """D1 committed the new job but the answer never arrived; the retry finds the job it wrote."""
    d1_live.lose_reply["INSERT INTO jobs"] = 1

    started = live.fetch(SHAWSHANK)
    job = live.wait(started.json["job_id"])

    assert started.status in (200, 202)
    assert job["status"] == "ready", f"{job}\n{live.downloader_log(job['job_id'])}"
    assert d1_live.fake.query("SELECT COUNT(*) AS n FROM jobs") == [{"n": 1}]


@pytest.mark.parametrize(
    "fragment",
    [
        '"params": ["downloading"',  # the dispatcher's claim (the first such write)
        "UPDATE jobs SET worker",  # the task taking the job
        '"params": ["preparing"',  # the downloader: downloading → preparing
        '"params": ["ready"',  # the downloader: preparing → ready
    ],
    ids=["claim", "take", "preparing", "ready"],
)
def test_a_transition_whose_reply_is_lost_twice_still_ends_ready_with_one_task(
    live: Live, d1_live: D1OverHttp, fragment: str
) -> None:
    """D1 commits, the reply is lost, the executor resends and loses that reply too: the write
    token makes the third attempt see its own success, so the job neither stalls (no task) nor
    stops halfway as 'taken away'."""
    d1_live.lose_reply[fragment] = 2

    job = live.wait(live.fetch(SHAWSHANK).json["job_id"])

    assert d1_live.lose_reply[fragment] == 0, "the fault must have been met"
    assert job["status"] == "ready", f"{job}\n{live.downloader_log(job['job_id'])}"
    log = (live.tmp_path / "logs" / f"{job['job_id']}.log").read_text()
    assert log.count('"downloader started"') == 1  # one task for the job


# (c) R2 part uploads failing ------------------------------------------------------------------------


@pytest.fixture
def r2_proxy(live: Live, env: pytest.MonkeyPatch, s3_server: str) -> Iterator[S3Proxy]:
    proxy = S3Proxy(s3_server)
    env.setenv("R2_ENDPOINT_URL", proxy.server.url)
    bootstrap.reset()
    yield proxy
    proxy.server.stop()


def test_failing_part_uploads_fail_the_job_cleanly_and_a_new_fetch_works(
    live: Live, r2_proxy: S3Proxy
) -> None:
    r2_proxy.fail_parts = -1

    failed = live.wait(live.fetch(SHAWSHANK).json["job_id"])

    assert failed["status"] == "error"
    assert "upload failed" in failed["error_message"]
    assert r2_proxy.failed_parts >= 3, "each part is retried before giving up"
    s3, bucket = bootstrap.container().objects.client, bootstrap.container().settings.R2_BUCKET
    prefix = f"movies/{failed['job_id']}/"  # moto's servers share one store across tests
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0
    assert live.work_leftovers() == []

    r2_proxy.fail_parts = 1  # R2 recovers, with one more hiccup the retry absorbs
    again = live.fetch(SHAWSHANK)
    ready = live.wait(again.json["job_id"])

    assert again.status == 202
    assert ready["status"] == "ready", live.downloader_log(ready["job_id"])
    assert live.get(f"/movies/{SHAWSHANK}/stream").status == 200


# (d) the downloader killed mid-download ---------------------------------------------------------


def test_a_downloader_stopped_with_sigterm_says_so_and_a_new_fetch_works(live: Live) -> None:
    live.stack.nntp.knobs.delay = 0.5
    asked, running = sum(live.stack.nntp.stats.bodies.values()), set(downloader_pids())
    job_id = live.fetch(GODFATHER).json["job_id"]

    os.kill(wait_until_downloading(live, asked, running), signal.SIGTERM)
    stopped = live.wait(job_id)

    assert stopped["status"] == "error"
    assert "stopped" in stopped["error_message"]
    assert live.work_leftovers() == []
    live.stack.nntp.knobs.delay = 0.0
    retried = live.wait(live.fetch(GODFATHER).json["job_id"])
    assert retried["status"] == "ready"


def test_a_downloader_killed_outright_is_failed_by_the_stale_rule(
    live: Live, env: pytest.MonkeyPatch
) -> None:
    env.setenv("JOB_CACHE_SECONDS", "0")  # cleanup runs in this process here, not another Lambda
    bootstrap.reset()
    live.stack.nntp.knobs.delay = 0.5
    asked, running = sum(live.stack.nntp.stats.bodies.values()), set(downloader_pids())
    job_id = live.fetch(GODFATHER).json["job_id"]
    pid = wait_until_downloading(live, asked, running)

    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # the launcher's reaper may collect it first
        os.waitpid(pid, 0)
    assert live.get(f"/jobs/{job_id}").json["status"] == "downloading", "nobody can tell yet"
    services = bootstrap.container()
    later = utcnow() + timedelta(minutes=services.settings.STALE_JOB_MINUTES + 1)
    cleanup = CleanupService(
        services.store, services.objects, retention_hours=168, stale_minutes=30,
        purge_after_days=30, clock=lambda: later,
    )  # fmt: skip
    assert cleanup.run().stale == [job_id]

    failed = live.get(f"/jobs/{job_id}").json
    assert failed["status"] == "error"
    assert "stopped responding" in failed["error_message"]
    live.stack.nntp.knobs.delay = 0.0
    retried = live.wait(live.fetch(GODFATHER).json["job_id"])
    assert retried["status"] == "ready"


# (e) the queue delivering a message twice ------------------------------------------------------


def test_a_redelivered_message_starts_no_second_downloader(live: Live) -> None:
    live.stack.nntp.knobs.delay = 0.2
    job = live.fetch(SHAWSHANK).json
    message = JobMessage(
        job_id=job["job_id"],
        movie_id=SHAWSHANK,
        release_id=job["release_id"],
        release_title=job["release_title"],
    )
    dispatcher = bootstrap.container().dispatcher
    live.wait(job["job_id"], until=frozenset({"downloading", "preparing", "ready", "error"}))

    while_running = dispatcher.handle_batch([("m-1", message.model_dump_json())])
    ready = live.wait(job["job_id"])
    after_ready = dispatcher.handle_batch([("m-2", message.model_dump_json())])

    assert (while_running.skipped, after_ready.skipped) == ([job["job_id"]], [job["job_id"]])
    assert ready["status"] == "ready"
    assert started_downloaders(live, job["job_id"]) == 1
    assert live.get("/jobs?status=ready").json["total"] == 1
