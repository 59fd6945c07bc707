"""``python -m downloader fetch``: files land in the folder; failures are one line, no password."""

from __future__ import annotations

from pathlib import Path

import pytest

from downloader.__main__ import main
from sandbox.posting import Release
from tests.downloader.conftest import Serve, payload


def test_fetch_downloads_the_release(
    release: Release, serve: Serve, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nzb = tmp_path / "release.nzb"
    nzb.write_bytes(release.nzb)
    server = serve(release)

    code = main(
        ["fetch", "--nzb", str(nzb), "--server", server.url(connections=2), "--out", str(out)]
    )

    assert code == 0
    assert (out / "Movie.2024.1080p.mkv").read_bytes() == payload(700_000, 1)
    assert "downloaded 2 files" in capsys.readouterr().out


def test_fetch_reports_missing_articles_with_its_own_exit_status(
    release: Release, serve: Serve, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nzb = tmp_path / "release.nzb"
    nzb.write_bytes(release.nzb)
    server = serve(release, missing={release.message_ids["Movie.2024.1080p.mkv"][0]})

    code = main(["fetch", "--nzb", str(nzb), "--server", server.url(), "--out", str(out)])

    assert code == 3
    assert "Movie.2024.1080p.mkv: 1 missing" in capsys.readouterr().err


def test_fetch_fails_in_one_line_without_the_password(
    release: Release,
    serve: Serve,
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nzb = tmp_path / "release.nzb"
    nzb.write_bytes(release.nzb)
    server = serve(release, username="bob", password="good")
    monkeypatch.setenv("NNTP_SERVERS", server.url("bob", "hunter2-wrong", connections=4))

    code = main(["fetch", "--nzb", str(nzb), "--out", str(out)])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: 127.0.0.1:")
    assert "login rejected" in captured.err
    assert "hunter2" not in captured.err + captured.out


def test_fetch_refuses_a_broken_nzb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nzb = tmp_path / "bad.nzb"
    nzb.write_bytes(b"<html>nope</html>")

    code = main(["fetch", "--nzb", str(nzb), "--server", "nntp://h", "--out", str(tmp_path)])

    assert code == 1
    assert (
        capsys.readouterr().err
        == "error: the document is not an NZB (its root element is <html>)\n"
    )


def test_run_without_a_job_message_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOB_MESSAGE", raising=False)
    assert main(["run"]) == 2
    assert "JOB_MESSAGE is missing or malformed" in capsys.readouterr().err
