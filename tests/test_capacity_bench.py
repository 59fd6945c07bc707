"""bench/capacity.py in miniature: simulated people on the real API and the gateway on miniflare."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from bench import capacity
from tests.gateway import require_miniflare

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")


def test_people_browsing_one_instance_share_the_movie_page_reads(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_miniflare()
    for name in ("API_KEYS", "STAGE"):  # the bench's people send no API key
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    argv = ["--users", "4", "--minutes", "2", "--instances", "1", "--browse-seconds", "2"]
    argv += ["--fetch-share", "0.5", "--download-minutes", "0.5", "--watch-minutes", "0.5"]

    assert capacity.main(argv) == 0
    assert dict(os.environ) == before

    out = capsys.readouterr().out
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
