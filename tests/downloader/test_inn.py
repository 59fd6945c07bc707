"""The downloader against a real news server: INN 2 (Debian ``inn2``), in reader and transit mode.

Everything else in these tests talks to our stand-in; here the other end is the software providers'
front ends grew from, with its own greeting, capability list, auth flow (``480`` before AUTHINFO;
``502`` in transit mode until ``MODE READER``), ``430`` for what it lacks and its own dot-stuffing.
``fetch`` (people, benchmarks) and ``run`` (the Fargate task) must behave here as they do there.
CI installs ``inn2`` (``.ci/run``); elsewhere these tests skip, and say so.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from downloader.__main__ import main as cli
from sandbox.posting import Release, make_release
from tests import inn
from tests.downloader.conftest import Task, payload
from tests.downloader.releases import (
    add_par2,
    assert_ready_and_playable,
    failed_job,
    make_movie,
    obfuscated,
    rar_set,
)

if not inn.installed() and os.environ.get("CI"):
    raise RuntimeError("CI must run the INN tests: .ci/run installs inn2")
pytestmark = pytest.mark.skipif(
    not inn.installed() or shutil.which("ffmpeg") is None,
    reason="needs INN 2 (Debian inn2) and ffmpeg; .ci/run installs them",
)


@pytest.fixture(scope="module")
def server() -> Iterator[inn.InnServer]:
    with inn.InnServer() as running:
        yield running


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_movie(tmp_path_factory.mktemp("movie") / "Movie.2024.1080p.mkv")


def unposted(files: dict[str, bytes], **options: bool) -> Release:
    """A release under message-ids no other test used (INN refuses an id it has seen)."""
    return make_release(files, segment_size=16_384, domain=f"{uuid.uuid4().hex}.test", **options)


def posted(server: inn.InnServer, files: dict[str, bytes], **options: bool) -> Release:
    release = unposted(files, **options)
    server.post(release.articles)
    return release


def fetch(nzb: Release, server_url: str, tmp_path: Path) -> int:
    path = tmp_path / "release.nzb"
    path.write_bytes(nzb.nzb)
    arguments = ["--nzb", str(path), "--server", server_url, "--out", str(tmp_path / "out")]
    return cli(["fetch", *arguments, "--quiet"])


@pytest.mark.parametrize("transit", [False, True], ids=["reader mode", "transit mode"])
def test_fetch_downloads_every_byte(
    server: inn.InnServer, tmp_path: Path, transit: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reader mode wants AUTHINFO first (480); transit mode refuses it (502) until MODE READER.
    The bodies start lines with dots (the plain encoder leaves them), so INN's dot-stuffing is
    undone on our side byte for byte."""
    files = {"Movie.2024.1080p.mkv": payload(300_000, 7), "Movie.2024.1080p.nfo": payload(900, 8)}
    release = posted(server, files)

    assert fetch(release, server.url(transit=transit), tmp_path) == 0, capsys.readouterr().err

    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data


@pytest.mark.parametrize("transit", [False, True], ids=["reader mode", "transit mode"])
def test_a_wrong_password_is_called_one_and_never_shown(
    server: inn.InnServer, tmp_path: Path, transit: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    release = posted(server, {"Movie.mkv": payload(20_000, 9)})

    code = fetch(release, server.url(transit=transit, password="hunter2-wrong"), tmp_path)

    err = capsys.readouterr().err
    assert code == 1
    assert "login rejected" in err
    assert "hunter2" not in err


def test_articles_inn_never_got_are_reported_missing(
    server: inn.InnServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """INN answers 430 for what it does not have: fetch's own exit status, the file named."""
    release = unposted({"Movie.mkv": payload(60_000, 10)})
    first = release.message_ids["Movie.mkv"][0]
    server.post({mid: body for mid, body in release.articles.items() if mid != first})

    code = fetch(release, server.url(), tmp_path)

    assert code == 3
    assert "Movie.mkv: 1 missing" in capsys.readouterr().err


@pytest.mark.parametrize("transit", [False, True], ids=["reader mode", "transit mode"])
def test_an_obfuscated_release_on_inn_ends_ready_and_playable(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path, server: inn.InnServer, transit: bool
) -> None:
    """The whole task against INN: STAT probe, download, par2 names, unpack, remux, upload."""
    folder = tmp_path / "set"
    volumes = rar_set(movie, folder)
    files = obfuscated([*volumes, *add_par2(folder, volumes)])
    task.offer(posted(server, files, obfuscate=True), server.url(transit=transit))

    assert_ready_and_playable(task, s3, tmp_path)


def test_a_release_inn_mostly_lacks_fails_on_the_probe_as_missing_articles(
    task: Task, tmp_path: Path, movie: Path, server: inn.InnServer
) -> None:
    """INN's STAT answers (223/430) are what the availability probe reads: a release of which
    only a sliver was ever posted ends ``missing_articles`` before it is downloaded."""
    volumes = rar_set(movie, tmp_path / "set")
    release = unposted(obfuscated(volumes), obfuscate=True)
    server.post(dict(list(release.articles.items())[:2]))
    task.offer(release, server.url())

    message, error_class = failed_job(task)

    assert error_class == "missing_articles"
    assert "missing" in message
