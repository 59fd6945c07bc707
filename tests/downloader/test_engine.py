"""The engine against real NNTP test servers: what a user would notice is what is asserted —
identical files, what is missing, which server was asked, how failures read and how fast they come."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sabctools

from downloader.errors import DownloadError
from downloader.usenet import nntp
from downloader.usenet.engine import DownloadResult, Engine
from downloader.usenet.nntp import NntpConnection
from downloader.usenet.nzb import parse_nzb
from downloader.usenet.progress import Progress
from downloader.usenet.servers import ServerConfig, parse_server
from sandbox.posting import Release, make_release
from tests.downloader.conftest import FAST, Serve, payload
from tests.servers.tls import make_tls


def download(release: Release, urls: list[str], out: Path, **options: Any) -> DownloadResult:
    engine = Engine([parse_server(url) for url in urls], dataclasses.replace(FAST, **options))
    return engine.download(parse_nzb(release.nzb).files, out)


def assert_identical(result: DownloadResult, release_files: dict[str, bytes]) -> None:
    assert {f.name: f.path.read_bytes() for f in result.files} == release_files
    assert result.complete


#: What the ``release`` fixture posted.
FILES = {"Movie.2024.1080p.mkv": payload(700_000, 1), "Movie.2024.1080p.par2": payload(3_000, 2)}


def test_download_over_tls_with_login_and_pipelining_is_byte_identical(
    release: Release, serve: Serve, out: Path, tmp_path: Path
) -> None:
    context, ca_file = make_tls(tmp_path)
    server = serve(release, username="alice", password="s3cret!", tls=context)
    url = server.url("alice", "s3cret!", connections=3, ca_file=ca_file)
    seen: list[Progress] = []
    engine = Engine([parse_server(url)], FAST, on_progress=seen.append)

    result = engine.download(parse_nzb(release.nzb).files, out)

    assert_identical(result, FILES)
    assert any(b"\r\n." in body for body in release.articles.values())  # dot-stuffing exercised
    assert server.stats.max_pipelined > 1
    assert sum(server.stats.bodies.values()) == len(release.articles)  # nothing fetched twice
    assert seen[-1].done_bytes == seen[-1].total_bytes == parse_nzb(release.nzb).bytes


@pytest.mark.skipif(not nntp.UNLOCKED_TLS, reason="sabctools is not linked to Python's OpenSSL")
def test_tls_bodies_are_read_without_the_gil(
    release: Release,
    serve: Serve,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over TLS the bodies go through sabctools' GIL-free ``SSL_read`` (SABnzbd 4's speed-up),
    on the non-blocking socket it needs, and the result is the same bytes."""
    calls: list[int] = []
    real = sabctools.unlocked_ssl_recv_into

    def counting(sock: Any, buffer: Any) -> int:
        count = int(real(sock, buffer))
        calls.append(count)
        return count

    monkeypatch.setattr(sabctools, "unlocked_ssl_recv_into", counting)
    context, ca_file = make_tls(tmp_path)
    server = serve(release, username="alice", password="s3cret!", tls=context)
    url = server.url("alice", "s3cret!", connections=2, ca_file=ca_file)

    result = Engine([parse_server(url)], FAST).download(parse_nzb(release.nzb).files, out)

    assert_identical(result, FILES)
    assert sum(calls) > sum(len(body) for body in release.articles.values())


def test_an_untrusted_certificate_is_refused(
    release: Release, serve: Serve, out: Path, tmp_path: Path
) -> None:
    context, _ = make_tls(tmp_path)
    server = serve(release, tls=context)
    with pytest.raises(DownloadError, match="certificate is not trusted"):
        download(release, [server.url(connections=2)], out)
    assert server.stats.bodies.total() == 0


def test_missing_articles_are_recorded_per_file(release: Release, serve: Serve, out: Path) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    server = serve(release, missing={ids[2], ids[7]})

    result = download(release, [server.url(connections=2)], out)

    movie, par2 = result.files
    assert (movie.missing, movie.corrupt, movie.complete) == ((3, 8), (), False)
    assert par2.complete
    data = movie.path.read_bytes()
    assert len(data) == 700_000  # the holes keep their place, for par2
    expected = FILES["Movie.2024.1080p.mkv"]
    assert data[:100_000] == expected[:100_000]
    assert data[100_000:150_000] == bytes(50_000)


def test_a_backup_server_is_asked_only_for_what_the_primary_lacks(
    release: Release, serve: Serve, out: Path
) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    primary = serve(release, missing={ids[0], ids[5]})
    backup = serve(release)

    result = download(
        release, [primary.url(connections=2), backup.url(connections=2, priority=1)], out
    )

    assert_identical(result, FILES)
    assert set(backup.stats.bodies) == {ids[0], ids[5]}


def test_dropped_connections_resume_without_lost_or_duplicated_bytes(
    release: Release, serve: Serve, out: Path
) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    server = serve(release, drop={ids[1]: 2, ids[6]: 1, ids[13]: 1})

    result = download(release, [server.url(connections=3)], out)

    assert_identical(result, FILES)
    assert server.stats.bodies[ids[1]] == 3
    assert server.stats.connections > 3  # it really reconnected


def test_an_article_that_always_breaks_the_connection_is_given_up(
    release: Release, serve: Serve, out: Path
) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    server = serve(release, drop={ids[4]: 100})

    result = download(release, [server.url(connections=2)], out, retries=2)

    assert result.files[0].missing == (5,)
    # First try + 2 retries, then on to par2. A reset can also swallow a request that was already on
    # the wire; those are re-sent without blame, so allow a couple more, but nowhere near the 100
    # drops the server would keep doing: no retry storm.
    assert 3 <= server.stats.bodies[ids[4]] <= 6


def test_corrupt_crc_is_detected_and_healed_from_a_backup(
    release: Release, serve: Serve, out: Path
) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    primary = serve(release, corrupt={ids[3]})
    alone = download(release, [primary.url(connections=2)], out / "alone")
    assert alone.files[0].corrupt == (4,)
    assert not alone.complete

    backup = serve(release)
    healed = download(release, [primary.url(connections=2), backup.url(priority=1)], out / "healed")
    assert_identical(healed, FILES)
    assert set(backup.stats.bodies) == {ids[3]}


def test_bad_credentials_fail_at_once_without_a_retry_storm(
    release: Release, serve: Serve, out: Path
) -> None:
    server = serve(release, username="alice", password="right")
    started = time.monotonic()

    with pytest.raises(DownloadError) as caught:
        download(release, [server.url("alice", "wrong-pass", connections=8)], out)

    assert "login rejected" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)
    assert "wrong-pass" not in str(caught.value)
    assert server.stats.connections == 1
    assert server.stats.auth_failures == 1
    assert time.monotonic() - started < 2


def test_an_unreachable_server_fails_with_a_clear_reason(release: Release, out: Path) -> None:
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9: could not connect"):
        download(release, ["nntp://127.0.0.1:9?connections=4"], out, connect_attempts=2)


def test_a_connection_limit_is_respected_not_hammered(
    release: Release, serve: Serve, out: Path
) -> None:
    server = serve(release, max_connections=2, delay=0.005)

    result = download(release, [server.url(connections=6)], out)

    assert_identical(result, FILES)
    assert server.stats.max_active <= 2
    assert server.stats.refused <= 6


def test_nzbget_style_reply_lines_are_understood(release: Release, serve: Serve, out: Path) -> None:
    server = serve(release, body_line="220, 0 <{id}>")
    assert_identical(download(release, [server.url(connections=2)], out), FILES)


def test_obfuscated_subjects_take_the_yenc_name(serve: Serve, out: Path) -> None:
    files = {"real.name.mkv": payload(120_000, 5)}
    release = make_release(files, segment_size=40_000, obfuscate=True)
    assert parse_nzb(release.nzb).files[0].subject_name is None
    server = serve(release)

    result = download(release, [server.url(connections=2)], out)

    assert_identical(result, files)
    assert sorted(p.name for p in out.iterdir()) == ["real.name.mkv"]


def test_gaps_in_the_nzb_are_reported_as_missing(release: Release, serve: Serve, out: Path) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    without_2 = re.sub(rb"<segment [^>]*number=\"2\">[^<]*</segment>", b"", release.nzb, count=1)
    gapped = Release(without_2, release.articles)
    server = serve(release)

    result = download(gapped, [server.url(connections=2)], out)

    assert result.files[0].missing == (2,)
    assert ids[1] not in server.stats.bodies


def test_stat_probes_availability(release: Release, serve: Serve) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    server = serve(release, missing={ids[1]})
    connection = NntpConnection(ServerConfig("127.0.0.1", server.port), timeout=5)
    connection.connect()
    try:
        assert connection.stat(ids[0]) is True
        assert connection.stat(ids[1]) is False
    finally:
        connection.quit()
