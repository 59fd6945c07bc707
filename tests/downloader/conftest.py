"""Fixtures for the downloader tests: releases posted to real NNTP test servers on 127.0.0.1."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from downloader.usenet.engine import EngineOptions
from sandbox.nntp_server import Knobs, NntpTestServer
from sandbox.posting import Release, make_release

#: Short timeouts and back-off so failure paths take milliseconds, not the production seconds.
FAST = EngineOptions(timeout=5.0, backoff=0.01, progress_interval=0.05)

Serve = Callable[..., NntpTestServer]


def payload(size: int, seed: int = 1) -> bytes:
    """Random bytes, plus every byte value yEnc must escape, plus runs that make dot-led lines."""
    rng = random.Random(seed)
    special = bytes([0, 10, 13, 61, 4, 214, 19, 227]) * 64  # '.'-42=4, '='-42=19 …
    return (special + rng.randbytes(size))[:size]


@pytest.fixture
def release() -> Release:
    files = {
        "Movie.2024.1080p.mkv": payload(700_000, 1),
        "Movie.2024.1080p.par2": payload(3_000, 2),
    }
    return make_release(files, segment_size=50_000)


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[NntpTestServer] = []

    def start(release: Release, **knobs: object) -> NntpTestServer:
        server = NntpTestServer(release.articles, Knobs(**knobs))  # type: ignore[arg-type]
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"
