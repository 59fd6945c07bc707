"""The downloader killed with SIGKILL at random points: does every job still end truthfully?

    python -m bench.sigkill [--runs 24] [--seconds 6] [--seed 1]

Fargate can lose a task without warning (a host failure, the OOM killer, a SIGKILL after the stop
timeout). Each run claims a job as the dispatcher does, starts the real ``python -m downloader
run`` against the sandbox's stand-ins (NNTP, indexer) and moto's S3 server, kills it with SIGKILL
at a random moment between its start and the time an unkilled run takes to reach ``ready`` (that
time is measured first, in the same run: the reference), then plays what production does next:

1. SQS delivers the claim's message again. A duplicate (another message id) must start nothing.
   The same message redelivered may start a task only if the killed one never took the job (it
   died before its first write, as a task still starting looks): a claim must not be lost. A
   second task started for a job a task had taken must find it taken and leave it untouched.
2. Cleanup runs past the stale limit: the job must end ``ready`` (killed after it got there) or
   ``error`` with class ``stale``; never ``downloading``/``preparing`` for ever.
3. No multipart upload is left open under the job's prefix, and no object without a ready job.

Printed: the reference time, where the kills landed (the job's state when killed), and the count
of runs that broke a rule (must be 0). Exit status 1 if any did.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from moto.server import ThreadedMotoServer

from chalicelib.adapters.objects import ObjectStore
from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import Job, JobStatus, movie_object_prefix, new_job_id, to_iso, utcnow
from chalicelib.services.cleanup import CleanupService
from chalicelib.services.dispatch import Dispatcher
from sandbox.stack import Stack, start_stack

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "movies-bench"
STALE_MINUTES = 30


@dataclass
class World:
    stack: Stack
    store: JobStore
    objects: ObjectStore
    environment: dict[str, str]
    release_id: str
    release_title: str
    movies: int = 0


class CountingLauncher:
    def __init__(self) -> None:
        self.launched = 0

    def launch(self, message: JobMessage) -> str:
        self.launched += 1
        return "not-started"


def claimed_job(world: World) -> JobMessage:
    now = utcnow()
    world.movies += 1  # one movie per run: a ready movie is still the movie's active job
    job = Job(
        job_id=new_job_id(now),
        movie_id=world.movies,
        status=JobStatus.QUEUED,
        created_at=to_iso(now),
        updated_at=to_iso(now),
        release_id=world.release_id,
        release_title=world.release_title,
    )
    stored, created = world.store.create_job(job)
    assert created, stored
    message = JobMessage(
        job_id=job.job_id,
        movie_id=job.movie_id,
        release_id=world.release_id,
        release_title=world.release_title,
    )
    launcher = CountingLauncher()
    outcome = Dispatcher(world.store, launcher).handle_batch([("sqs-1", message.model_dump_json())])
    assert outcome.started == [job.job_id], outcome
    return message


def start_task(world: World, message: JobMessage, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **world.environment, "JOB_MESSAGE": message.model_dump_json()}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "downloader", "run"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def reference_seconds(world: World, logs: Path) -> float:
    message = claimed_job(world)
    started = time.monotonic()
    code = start_task(world, message, logs / "reference.log").wait(timeout=600)
    took = time.monotonic() - started
    job = world.store.get_job(message.job_id)
    if code != 0 or job is None or job.status is not JobStatus.READY:
        raise SystemExit(f"the unkilled reference run failed (exit {code}); see {logs}")
    return took


def one_run(world: World, logs: Path, delay: float) -> tuple[str, list[str]]:
    """Kill after ``delay`` seconds; returns (state when killed, rules broken)."""
    message = claimed_job(world)
    task = start_task(world, message, logs / f"{message.job_id}.log")
    time.sleep(delay)
    task.send_signal(signal.SIGKILL)
    task.wait()
    killed_in = world.store.get_job(message.job_id)
    state = killed_in.status.value if killed_in else "missing"
    broken: list[str] = []

    taken = killed_in is not None and killed_in.worker is not None
    redelivery = CountingLauncher()
    Dispatcher(world.store, redelivery).handle_batch([("sqs-1", message.model_dump_json())])
    duplicate = CountingLauncher()
    Dispatcher(world.store, duplicate).handle_batch([("sqs-2", message.model_dump_json())])
    if duplicate.launched:
        broken.append("a duplicate message started a second task")
    if redelivery.launched and taken:
        broken.append("the redelivered message started a task for a job a task had taken")
    if taken and state in ("downloading", "preparing"):
        second = start_task(world, message, logs / f"{message.job_id}.second.log")
        if second.wait(timeout=120) != 1:
            broken.append("a second task for the same claim did not leave the job alone")
        after = world.store.get_job(message.job_id)
        if after is None or after.updated_at != killed_in.updated_at:  # type: ignore[union-attr]
            broken.append("a second task for the same claim wrote to the job")
    later = utcnow() + timedelta(minutes=STALE_MINUTES + 1)
    CleanupService(
        world.store,
        world.objects,
        retention_hours=168,
        stale_minutes=STALE_MINUTES,
        purge_after_days=30,
        clock=lambda: later,
    ).run()
    final = world.store.get_job(message.job_id)
    if final is None:
        broken.append("the job vanished")
    elif final.status is not JobStatus.READY and (
        final.status is not JobStatus.ERROR or final.error_class != "stale"
    ):
        broken.append(f"the job ended {final.status.value}/{final.error_class}")
    prefix = movie_object_prefix(message.job_id)
    if world.objects.open_uploads(prefix):
        broken.append("a multipart upload was left open")
    listed = world.objects.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    has_object = listed.get("KeyCount", 0) > 0
    if final is not None and has_object != (final.status is JobStatus.READY):
        broken.append("objects and job disagree")
    return state + ("" if taken else " (not taken)"), broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sigkill", description=__doc__)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the sandbox movie")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--article-delay",
        type=float,
        default=0.04,
        help="seconds the NNTP stand-in waits before each article, so the download is long "
        "enough for kills to land in it too",
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: one line per request
    with tempfile.TemporaryDirectory(prefix="bench-sigkill-") as folder:
        work = Path(folder)
        logs = work / "logs"
        logs.mkdir()
        s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        s3.start()
        host, port = s3.get_host_and_port()
        stack = start_stack(work / "sandbox", seconds=args.seconds)
        stack.nntp.knobs.delay = args.article_delay
        try:
            item = next(i for i in stack.indexer.items.values() if not i.flavour.password)
            environment = {
                **stack.environment(),
                "JOB_STORE": "sqlite",
                "SQLITE_PATH": str(work / "jobs.sqlite3"),
                "WORK_DIR": str(work / "tasks"),
                "R2_ENDPOINT_URL": f"http://{host}:{port}",
                "R2_ACCESS_KEY_ID": "bench",
                "R2_SECRET_ACCESS_KEY": "bench-secret",
                "R2_BUCKET": BUCKET,
                "R2_CREATE_BUCKET": "true",
                "JOB_CACHE_SECONDS": "0",
                "LOG_LEVEL": "WARNING",
            }
            objects = ObjectStore(
                bucket=BUCKET,
                endpoint_url=environment["R2_ENDPOINT_URL"],
                access_key_id="bench",
                secret_access_key="bench-secret",
                create_bucket=True,
            )
            store = JobStore(SqliteExecutor(environment["SQLITE_PATH"]), cache_seconds=0)
            world = World(stack, store, objects, environment, item.release_id, item.title)
            reference = reference_seconds(world, logs)
            print(f"reference: an unkilled run reaches ready in {reference:.2f} s", flush=True)
            landed: Counter[str] = Counter()
            failures = 0
            for run in range(1, args.runs + 1):
                delay = rng.uniform(0.0, reference * 1.1)
                state, broken = one_run(world, logs, delay)
                landed[state] += 1
                failures += bool(broken)
                verdict = "ok" if not broken else "BROKEN: " + "; ".join(broken)
                print(
                    f"run {run:2d}: killed at {delay:5.2f} s in {state:<23} {verdict}", flush=True
                )
        finally:
            stack.stop()
            s3.stop()
    shown = ", ".join(f"{state} {count}" for state, count in sorted(landed.items()))
    print(f"kills landed in: {shown}")
    print(f"runs breaking a rule: {failures} of {args.runs}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
