"""API load benchmark: the local API under cached discovery, job polling and a burst of fetches.

    python -m bench.api_load [--requests 2000] [--concurrency 16] [--fetchers 100] [--movies 10]

Starts the sandbox (``python -m sandbox``: the API on the ``local`` stage with the TMDB, Newznab,
Usenet and R2 stand-ins, all on loopback, state in a temporary folder) as a child process, so the
client threads here do not share the server's interpreter, then measures three phases and prints
requests/s, p50 and p99 latency for each:

1. ``fetch burst``: ``--fetchers`` concurrent ``POST /fetch`` spread over ``--movies`` films (cold:
   each film's first fetch asks TMDB and the indexer). Invariant: every answer for a film names the
   same job, exactly one answer per film is 202, and the job store ends with exactly one active job per
   film; a violation makes the exit status 1.
2. ``job status``: ``GET /jobs/{id}`` over the jobs just created (the downloaders run meanwhile).
3. ``cached discovery``: popular, top rated, search and movie details, after one warming pass.

Latencies are wall time per request seen by the client (``time.perf_counter``), including loopback.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
API = "/api/movies-on-demand"
#: Films the sandbox indexer has releases for (sandbox/tmdb.py FACTS), in a stable order.
MOVIES = (550, 238, 240, 278, 424, 502356, 640146, 155, 680, 13, 129, 497, 12313)
DISCOVERY = (
    "/popular",
    "/top",
    "/search?query=fight%20club",
    "/search?query=godfather",
    "/movies/550",
    "/movies/238",
    "/movies/278",
)


@dataclass
class Phase:
    name: str
    seconds: float
    latencies: list[float]
    statuses: Counter[int]

    def line(self) -> str:
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"{self.name:<17} {len(ordered):>6} req  {len(ordered) / self.seconds:>8.1f} req/s  "
            f"p50 {statistics.median(ordered) * 1000:>7.1f} ms  p99 {p99 * 1000:>7.1f} ms  "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


Call = Callable[[requests.Session], requests.Response]
_local = threading.local()
#: Connection resets retried by the client (chalice local listens with a backlog of 5).
_resets = Counter[str]()
RETRIES = 6
_resets_lock = threading.Lock()


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    session: requests.Session = _local.session
    return session


def run_phase(
    name: str, calls: list[Call], concurrency: int
) -> tuple[Phase, list[requests.Response]]:
    def timed(call: Call) -> tuple[float, requests.Response]:
        start = time.perf_counter()
        for attempt in range(RETRIES):  # as a client would: a reset connection is tried again
            try:
                response = call(_session())
                break
            except requests.ConnectionError:
                if attempt == RETRIES - 1:
                    raise
                with _resets_lock:
                    _resets[name] += 1
                _local.session = requests.Session()
                time.sleep(0.05 * 2**attempt)  # back off, or the same burst meets the same backlog
        return time.perf_counter() - start, response

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(timed, calls))
    elapsed = time.perf_counter() - started
    responses = [response for _, response in results]
    statuses = Counter(r.status_code for r in responses)
    return Phase(name, elapsed, [latency for latency, _ in results], statuses), responses


def get(url: str) -> Call:
    return lambda s: s.get(url, timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sandbox(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    port, s3_port = free_port(), free_port()
    command = [sys.executable, "-m", "sandbox", "--port", str(port), "--s3-port", str(s3_port)]
    command += ["--state", str(state), "--seconds", "2"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}{API}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the sandbox exited with {process.returncode}")
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("the sandbox did not answer /health within 60 s")


def fetch_burst(base: str, fetchers: int, movies: tuple[int, ...]) -> tuple[Phase, list[str]]:
    """The burst and its invariant check; returns the phase and the problems found."""
    body = '{"mode":"auto","quality_preference":"1080p"}'
    targets = [movies[i % len(movies)] for i in range(fetchers)]
    headers = {"Content-Type": "application/json"}

    def fetch(movie: int) -> Call:
        return lambda s: s.post(
            f"{base}/movies/{movie}/fetch", data=body, headers=headers, timeout=60
        )

    calls = [fetch(movie) for movie in targets]
    phase, responses = run_phase("fetch burst", calls, concurrency=fetchers)
    problems = []
    jobs: dict[int, set[str]] = defaultdict(set)
    created: Counter[int] = Counter()
    for movie, response in zip(targets, responses, strict=True):
        if response.status_code not in (200, 202):
            problems.append(f"movie {movie}: HTTP {response.status_code} {response.text[:120]}")
            continue
        jobs[movie].add(response.json()["job_id"])
        created[movie] += response.status_code == 202
    for movie in movies:
        if len(jobs[movie]) != 1 or created[movie] != 1:
            problems.append(f"movie {movie}: jobs {sorted(jobs[movie])}, {created[movie]} x 202")
    listing = requests.get(f"{base}/jobs", params={"limit": 100}, timeout=10).json()
    active = Counter(job["movie_id"] for job in listing["jobs"])
    for movie in movies:
        if active[movie] != 1:
            problems.append(f"movie {movie}: {active[movie]} active jobs in the store")
    return phase, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per read phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fetchers", type=int, default=100, help="concurrent fetch requests")
    parser.add_argument("--movies", type=int, default=10, help=f"films to fetch (≤ {len(MOVIES)})")
    args = parser.parse_args(argv)
    movies = MOVIES[: max(1, min(args.movies, len(MOVIES)))]

    with tempfile.TemporaryDirectory(prefix="api-load-") as folder:
        process, base = start_sandbox(Path(folder))
        try:
            burst, problems = fetch_burst(base, args.fetchers, movies)
            job_ids = [
                job["job_id"] for job in requests.get(f"{base}/jobs", timeout=10).json()["jobs"]
            ]
            status_calls = [
                get(f"{base}/jobs/{j}")
                for j in itertools.islice(itertools.cycle(job_ids), args.requests)
            ]
            status, _ = run_phase("job status", status_calls, args.concurrency)
            for path in DISCOVERY:  # warm the caches: this phase measures cached answers
                requests.get(base + path, timeout=30)
            discovery_calls = [
                get(base + p) for p in itertools.islice(itertools.cycle(DISCOVERY), args.requests)
            ]
            discovery, _ = run_phase("cached discovery", discovery_calls, args.concurrency)
        finally:
            process.send_signal(2)  # Ctrl-C: the sandbox stops its downloaders and servers
            process.wait(timeout=30)

    cores = os.cpu_count()
    print(f"API load (local stage, {cores} cores, client concurrency {args.concurrency})")
    for phase in (discovery, status, burst):
        print("  " + phase.line())
    if _resets:
        print(f"  connection resets retried by the client: {dict(_resets)}")
    verdict = "OK" if not problems else "VIOLATED: " + "; ".join(problems)
    print(f"  invariant: one active job per movie ({len(movies)} movies, {args.fetchers} fetches): "
          f"{verdict}")  # fmt: skip
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
