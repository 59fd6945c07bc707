"""bench/capacity.py in miniature, run as a person runs it (its own process): simulated people on the
real API and the D1 gateway on miniflare, and the figures it prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gateway import require_miniflare

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")


def test_people_browsing_one_instance_share_the_movie_page_reads() -> None:
    require_miniflare()
    argv = ["--users", "4", "--minutes", "2", "--instances", "1", "--browse-seconds", "2"]
    argv += ["--fetch-share", "0.5", "--download-minutes", "0.5", "--watch-minutes", "0.5"]
    environment = {k: v for k, v in os.environ.items() if k not in {"API_KEYS", "STAGE"}}

    done = subprocess.run(
        [sys.executable, "-m", "bench.capacity", *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    details = re.search(r"GET /movies/\{id\}\s+(\d+)\s+(\d+)\s+([\d.]+)", out)
    assert details, out
    calls, d1 = int(details[1]), int(details[2])
    assert calls > 50
    assert d1 <= calls / 3, "four people on one instance: at most one snapshot read per 3 s"
    assert "GET /movies/{id}/stream" in out  # the fetched films became ready and were streamed
    assert re.search(r"REST API, every process on one user's tokens .*: \d+ concurrent people", out)
    assert re.search(r"gateway, Workers Free .*: \d+ people around the clock", out)
    answers = re.search(r"answers: (\{.*\})", out)
    assert answers, out
    assert not re.search(r" [45]\d\d'", answers[1]), answers[1]  # every call answered 2xx
