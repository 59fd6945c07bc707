"""Capacity model: D1 requests per user-minute per route, and how many people each D1 path carries.

    python -m bench.capacity [--users 40] [--minutes 30] [--instances 4] [--browse-seconds 20]
                             [--fetch-share 0.3] [--download-minutes 6] [--watch-minutes 20]

Simulated people use the real API (in process, chalice's test client) on the real job store: the D1
executor over HTTP to the gateway Worker on miniflare's D1, TMDB and the indexer answered by the
sandbox's stand-ins. Time is simulated (events in time order, one at a time), so the job store's
cache sees the seconds a person would take and every D1 request is attributed to the route that
made it. Each person opens a movie page every ``--browse-seconds`` on average; ``--fetch-share`` of
them fetch a film once, poll ``GET /jobs/{id}`` as the API's ``poll_after_seconds`` says until it is
ready, stream it and watch for ``--watch-minutes`` (no API calls), then browse again. People are
spread over ``--instances`` API processes (Lambda instances), each with its own cache. The
dispatcher and downloader are played by the same ``JobStore`` calls they make: the claim, the take,
a progress write every 10 s for ``--download-minutes``, preparing and ready.

It prints D1 requests per user-minute for each route, then the concurrent people each path sustains:
the REST API's 1,200 requests per 5 minutes per user (shared by all that user's tokens; only an
account-owned token has a budget of its own) and the gateway on the Workers Free plan's 100,000
requests per day (one Worker request per D1 round trip).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import logging
import os
import random
import secrets
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from chalice.test import Client
from moto import mock_aws

from bench.api_load import MOVIES
from chalicelib import bootstrap
from chalicelib.adapters import builders
from chalicelib.adapters.store import JobStore, Row, Statement
from chalicelib.adapters.store.executor import Executor
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import JobStatus, to_iso, utcnow
from chalicelib.settings import load_settings
from sandbox.stack import start_stack
from scripts.local_gateway import LocalGateway

ROOT = Path(__file__).resolve().parent.parent
API = "/api/movies-on-demand"
R2 = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
REST_PER_MINUTE = 1200 / 5
WORKERS_FREE_PER_DAY = 100_000
PROGRESS_SECONDS = 10
FETCH = json.dumps({"mode": "auto", "quality_preference": "1080p"}).encode()


class Counting:
    """An executor that charges each round trip to the route (or worker) being simulated."""

    def __init__(self, inner: Executor, tally: Tally) -> None:
        self._inner = inner
        self._tally = tally
        self.round_trips = 0

    def execute(self, statements: list[Statement]) -> list[list[Row]]:
        self.round_trips += 1
        self._tally.d1[self._tally.route] += 1
        self._tally.largest_batch = max(self._tally.largest_batch, len(statements))
        return self._inner.execute(statements)


@dataclass
class Tally:
    route: str = ""
    d1: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    largest_batch: int = 0


class Sim:
    """Simulated time and the events waiting in it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    def at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.now + delay, next(self._order), action))

    def run(self, until: float) -> None:
        while self._events and self._events[0][0] <= until:
            self.now, _, action = heapq.heappop(self._events)
            action()
        self.now = until


class Worker:
    """The dispatcher and the downloader, as the job store sees them (their own process, no cache)."""

    def __init__(self, sim: Sim, store: JobStore, tally: Tally, download_seconds: float) -> None:
        self._sim, self._store, self._tally = sim, store, tally
        self._download = download_seconds
        self._s3 = boto3.client("s3", endpoint_url=R2, region_name="auto")
        self.jobs = 0

    def send(self, message: JobMessage) -> None:
        self.jobs += 1
        job = message.job_id
        self._step(1, "dispatcher", job, JobStatus.QUEUED, JobStatus.DOWNLOADING)
        self._sim.at(3, lambda: self._take(job))
        for tick in range(1, int(self._download // PROGRESS_SECONDS) + 1):
            progress: dict[str, Any] = {
                "progress": min(0.99, tick * PROGRESS_SECONDS / self._download)
            }
            self._step(
                3 + tick * PROGRESS_SECONDS, "downloader", job, JobStatus.DOWNLOADING, **progress
            )
        done = 3 + self._download
        self._step(done, "downloader", job, JobStatus.DOWNLOADING, JobStatus.PREPARING)
        self._sim.at(done + 30, lambda: self._ready(job))

    def _charge(self, route: str) -> str:
        previous, self._tally.route = self._tally.route, route
        return previous

    def _step(
        self,
        delay: float,
        route: str,
        job_id: str,
        source: JobStatus,
        target: JobStatus | None = None,
        **changes: Any,
    ) -> None:
        def write() -> None:
            previous = self._charge(route)
            now = to_iso(utcnow())
            self._store.transition(
                job_id, from_statuses=[source], to=target or source, now=now, **changes
            )
            self._tally.route = previous

        self._sim.at(delay, write)

    def _take(self, job_id: str) -> None:
        previous = self._charge("downloader")
        self._store.take(job_id, worker="sim", now=to_iso(utcnow()))
        self._tally.route = previous

    def _ready(self, job_id: str) -> None:
        key = f"movies/{job_id}/movie.mp4"
        self._s3.put_object(Bucket="movies-bench", Key=key, Body=b"0" * 1024)
        previous = self._charge("downloader")
        now = to_iso(utcnow())
        self._store.transition(
            job_id,
            from_statuses=[JobStatus.PREPARING],
            to=JobStatus.READY,
            now=now,
            progress=1.0,
            ready_at=now,
            object_key=key,
            content_type="video/mp4",
            size_bytes=1024,
        )
        self._tally.route = previous


class People:
    """The simulated people and the API calls they make."""

    def __init__(self, sim: Sim, tally: Tally, args: argparse.Namespace) -> None:
        self._sim, self._tally, self._args = sim, tally, args
        self._random = random.Random(args.seed)
        self._client = Client(_app(), stage_name="bench", project_dir=str(ROOT))
        self.instances: list[bootstrap.Container] = []
        #: People waiting for a job or watching: they open no movie pages meanwhile.
        self._busy: set[int] = set()

    def call(self, person: int, method: str, path: str, route: str) -> dict[str, Any]:
        bootstrap._container = self.instances[person % len(self.instances)]
        self._tally.route = route
        self._tally.calls[route] += 1
        body = FETCH if method == "POST" else b""
        headers = {"Content-Type": "application/json"} if body else {}
        response = self._client.http.request(method, API + path, headers=headers, body=body)
        self._tally.statuses[f"{route} {response.status_code}"] += 1
        answer: dict[str, Any] = json.loads(response.body or b"{}")
        return answer

    def start(self, person: int) -> None:
        self._sim.at(self._random.uniform(0, 60), lambda: self._browse(person))
        if self._random.random() < self._args.fetch_share:
            start = self._random.uniform(0, self._args.minutes * 30)
            self._sim.at(start, lambda: self._fetch(person))

    def _browse(self, person: int) -> None:
        if person not in self._busy:
            movie = self._random.choice(MOVIES)
            self.call(person, "GET", f"/movies/{movie}", "GET /movies/{id}")
        wait = self._random.expovariate(1 / self._args.browse_seconds)
        self._sim.at(wait, lambda: self._browse(person))

    def _fetch(self, person: int) -> None:
        self._busy.add(person)
        movie = self._random.choice(MOVIES)
        job = self.call(person, "POST", f"/movies/{movie}/fetch", "POST /movies/{id}/fetch")
        self._poll(person, movie, job)

    def _poll(self, person: int, movie: int, job: dict[str, Any]) -> None:
        if job.get("status") == "ready":
            self.call(person, "GET", f"/movies/{movie}/stream", "GET /movies/{id}/stream")
            self._sim.at(self._args.watch_minutes * 60, lambda: self._busy.discard(person))
            return
        if "job_id" not in job or job.get("status") in {"error", "deleted"}:
            self._busy.discard(person)
            return
        wait = float(job.get("poll_after_seconds") or 10)

        def again() -> None:
            fresh = self.call(person, "GET", f"/jobs/{job['job_id']}", "GET /jobs/{id}")
            self._poll(person, movie, fresh)

        self._sim.at(wait, again)


def _app() -> Any:
    from app import app

    return app


def report(tally: Tally, args: argparse.Namespace, jobs: int) -> None:
    person_minutes = args.users * args.minutes
    out = sys.stdout.write
    out(
        f"{args.users} people, {args.minutes} simulated minutes, {args.instances} API instances, "
        f"{jobs} jobs; JOB_CACHE_SECONDS {load_settings().JOB_CACHE_SECONDS:g}\n\n"
    )
    out(f"{'route':<26}{'calls':>8}{'D1 requests':>13}{'D1/call':>9}{'D1/person-min':>15}\n")
    api = 0
    for route in [*sorted(tally.calls), "dispatcher", "downloader"]:
        calls, d1 = tally.calls.get(route, 0), tally.d1.get(route, 0)
        api += d1 if route in tally.calls else 0
        ratio = f"{d1 / calls:.2f}" if calls else "-"
        out(f"{route:<26}{calls:>8}{d1:>13}{ratio:>9}{d1 / person_minutes:>15.3f}\n")
    total = sum(tally.d1.values())
    per_api, per_all = api / person_minutes, total / person_minutes
    out(f"{'API routes':<26}{'':>8}{api:>13}{'':>9}{per_api:>15.3f}\n")
    out(f"{'everything':<26}{'':>8}{total:>13}{'':>9}{per_all:>15.3f}\n\n")
    out(f"largest batch: {tally.largest_batch} statements in one D1 round trip\n")
    out(
        f"REST API, every process on one user's tokens (1,200 / 5 min shared): "
        f"{REST_PER_MINUTE / per_all:.0f} concurrent people\n"
        f"REST API, the API on an account-owned token of its own: "
        f"{REST_PER_MINUTE / per_api:.0f} concurrent people\n"
        f"gateway, Workers Free (100,000 requests/day): "
        f"{WORKERS_FREE_PER_DAY / 1440 / per_all:.0f} people around the clock, "
        f"{WORKERS_FREE_PER_DAY / 60 / per_all:.0f} person-hours a day\n"
    )
    out(f"answers: {dict(sorted(tally.statuses.items()))}\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--browse-seconds", type=float, default=20.0)
    parser.add_argument("--fetch-share", type=float, default=0.3)
    parser.add_argument("--download-minutes", type=float, default=6.0)
    parser.add_argument("--watch-minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    state = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    saved = dict(os.environ)
    token = secrets.token_urlsafe(24)
    try:
        with LocalGateway(token) as gateway, mock_aws():
            stack = start_stack(state / "sandbox", seconds=1.0)
            try:
                os.environ.update(
                    {
                        **stack.environment(),
                        "JOB_STORE": "d1",
                        "CF_ACCOUNT_ID": "0" * 32,
                        "D1_DATABASE_ID": "bench",
                        "CF_API_TOKEN": token,
                        "CF_API_BASE_URL": gateway.base_url,
                        "R2_ENDPOINT_URL": R2,
                        "R2_ACCESS_KEY_ID": "bench",
                        "R2_SECRET_ACCESS_KEY": "bench",
                        "R2_BUCKET": "movies-bench",
                        "MOTO_S3_CUSTOM_ENDPOINTS": R2,
                    }
                )
                location: Any = {"LocationConstraint": "auto"}
                boto3.client("s3", endpoint_url=R2, region_name="auto").create_bucket(
                    Bucket="movies-bench", CreateBucketConfiguration=location
                )
                sim, tally, settings = Sim(), Tally(), load_settings()
                worker_store = JobStore(
                    Counting(builders.job_executor(settings), tally), cache_seconds=0
                )
                worker = Worker(sim, worker_store, tally, args.download_minutes * 60)
                people = People(sim, tally, args)
                for _ in range(args.instances):
                    container = bootstrap.Container(settings)
                    executor = Counting(builders.job_executor(settings), tally)
                    container.__dict__["store"] = JobStore(
                        executor, cache_seconds=settings.JOB_CACHE_SECONDS, clock=sim.clock
                    )
                    container.__dict__["queue"] = worker
                    people.instances.append(container)
                for person in range(args.users):
                    people.start(person)
                logging.disable(logging.WARNING)  # the API's logs, while it runs; EMF to a file
                try:
                    with (state / "metrics.log").open("w") as metrics, redirect_stdout(metrics):
                        sim.run(sim.now + args.minutes * 60)
                finally:
                    logging.disable(logging.NOTSET)
                report(tally, args, worker.jobs)
            finally:
                stack.stop()
                bootstrap.reset()
    finally:  # main() also runs inside the test suite
        os.environ.clear()
        os.environ.update(saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
