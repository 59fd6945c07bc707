"""Per-server figures from the engine: what each news server delivered, lacked and damaged.

Against real NNTP test servers on 127.0.0.1; a server is named ``host:port`` and never with its
credentials. (The task writing them with the job and as metrics: ``test_task.py``.)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from chalicelib.domain.server_figures import decode_servers, encode_servers
from downloader.usenet.engine import Engine
from downloader.usenet.nzb import parse_nzb
from downloader.usenet.servers import parse_server
from sandbox.posting import Release
from tests.downloader.conftest import FAST, Serve


def test_each_server_says_what_it_delivered_lacked_and_damaged(
    release: Release, serve: Serve, out: Path
) -> None:
    ids = release.message_ids["Movie.2024.1080p.mkv"]
    primary = serve(
        release, missing={ids[0], ids[5]}, corrupt={ids[3]}, username="u", password="pw-s3cret"
    )
    backup = serve(release)
    engine = Engine(
        [
            parse_server(primary.url("u", "pw-s3cret", connections=2)),
            parse_server(backup.url(connections=2, priority=1)),
        ],
        dataclasses.replace(FAST),
    )
    nzb = parse_nzb(release.nzb)
    total = sum(len(f.segments) for f in nzb.files)

    result = engine.download(nzb.files, out)
    first, second = engine.server_figures()

    assert result.complete
    assert first.server == f"127.0.0.1:{primary.port}"
    assert (first.articles_fetched, first.articles_missing, first.articles_corrupt) == (
        total - 3,
        2,
        1,
    )
    assert second.server == f"127.0.0.1:{backup.port}"
    assert (second.articles_fetched, second.articles_missing, second.articles_corrupt) == (3, 0, 0)
    assert first.bytes + second.bytes == result.bytes
    assert first.seconds == second.seconds > 0
    assert first.throughput_bps == round(first.bytes / first.seconds, 1)
    assert "s3cret" not in json.dumps([dataclasses.asdict(f) for f in (first, second)])


def test_figures_add_up_over_every_download_of_one_job(
    release: Release, serve: Serve, out: Path
) -> None:
    """A job downloads in several runs (a RAR set's first volume, the rest, recovery volumes)."""
    server = serve(release)
    engine = Engine([parse_server(server.url())], FAST)
    files = parse_nzb(release.nzb).files

    engine.download(files[:1], out)
    once = engine.server_figures()[0]
    engine.download(files[1:], out)
    both = engine.server_figures()[0]

    assert once.articles_fetched == len(files[0].segments)
    assert both.articles_fetched == sum(len(f.segments) for f in files)
    assert both.seconds > once.seconds


def test_the_stored_figures_read_back_and_unreadable_ones_are_none() -> None:
    figures = [dataclasses.replace(decode_servers('[{"server": "a:563"}]')[0], bytes=5)]

    assert decode_servers(encode_servers(figures)) == figures
    assert decode_servers("not json") == decode_servers('[{"nope": 1}]') == []
