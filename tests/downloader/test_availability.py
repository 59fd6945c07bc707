"""The availability probe: a sample of STATs before any download, and a second, larger one before
a release is judged beyond repair (the NNTP test server answering STAT for what it holds)."""

from __future__ import annotations

import os

from downloader.usenet.availability import SAMPLE, probe, sample_ids
from downloader.usenet.nzb import parse_nzb
from downloader.usenet.servers import parse_server
from sandbox.posting import make_release
from tests.downloader.conftest import Serve

SEGMENT = 8192


def test_an_unlucky_first_sample_is_asked_again_before_the_release_is_skipped(serve: Serve) -> None:
    """150 articles with 5 % recovery data; the three missing ones (2 %) all fall in the first
    sample of 24, which alone would say 12 % missing."""
    data = os.urandom(150 * SEGMENT)
    files = {"Movie.2024.mkv": data, "Movie.2024.vol00+08.par2": bytes(len(data) // 20)}
    release = make_release(files, segment_size=SEGMENT)
    nzb = parse_nzb(release.nzb)
    first = sample_ids(nzb)
    server = serve(release, missing=set(first[5:8]))

    found = probe(nzb, [parse_server(server.url())])

    assert found.repairable
    assert found.sampled > SAMPLE  # the larger sample was asked
    assert found.missing == 3


def test_a_release_really_short_stays_short_and_a_sound_one_costs_one_sample(serve: Serve) -> None:
    data = os.urandom(150 * SEGMENT)
    files = {"Movie.2024.mkv": data, "Movie.2024.vol00+08.par2": bytes(len(data) // 20)}
    release = make_release(files, segment_size=SEGMENT)
    nzb = parse_nzb(release.nzb)
    ids = release.message_ids["Movie.2024.mkv"]
    short = serve(release, missing=set(ids[::5]))  # 20 % missing, 5 % recovery
    sound = serve(release)

    assert not probe(nzb, [parse_server(short.url())]).repairable
    found = probe(nzb, [parse_server(sound.url())])
    assert (found.sampled, found.missing) == (SAMPLE, 0)
    assert sound.stats.commands["STAT"] == SAMPLE
