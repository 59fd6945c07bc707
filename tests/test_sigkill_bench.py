"""A few runs of ``bench/sigkill.py`` in the suite: the downloader SIGKILLed at random points (the
seed puts kills before the task took the job, mid-download and mid-preparation), and every job still
ends ``ready`` or ``error``/``stale``, with no second task working on it and nothing left open in S3.
The benchmark itself runs 24 (README "Benchmarks")."""

from __future__ import annotations

import shutil

import pytest

from bench import sigkill


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")
def test_killed_downloaders_leave_true_jobs_and_nothing_open(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = sigkill.main(["--runs", "4", "--seed", "3", "--seconds", "4"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "runs breaking a rule: 0 of 4" in out
