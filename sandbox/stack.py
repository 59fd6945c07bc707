"""The third parties of the service, all on loopback: TMDB, a Newznab indexer and a Usenet server.

``start_stack`` builds the demo release (ffmpeg, RAR volumes, par2, yEnc), starts the three stand-ins
on free ports and returns them with ``environment()``: the only settings that differ from production
(base URLs, keys, ``NNTP_SERVERS``). The real API and downloader code run unchanged against them. The
same stack backs ``make demo`` and the end-to-end tests, so the demo cannot rot unnoticed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sandbox import newznab, tmdb
from sandbox.httpd import StandIn
from sandbox.multilingual import make_multilingual_movie
from sandbox.nntp_server import Knobs, NntpTestServer
from sandbox.posting import make_release
from sandbox.release import SEGMENT_SIZE, PostedRelease, build_release

#: Credentials of the stand-ins. Not secrets (they open nothing but loopback toys), but they are
#: passed exactly as production secrets are, so the log scrubbing of real keys is exercised too.
#: The film whose release is the multilingual one (``sandbox/multilingual.py``): The Green Mile, an
#: English-language film posted with Italian audio first, English second and two subtitle tracks.
MULTILINGUAL_FILM = 497
TMDB_TOKEN = "sandbox-tmdb-read-token"
INDEXER_KEY = "sandbox-indexer-key"
NNTP_USER, NNTP_PASSWORD = "sandbox", "sandbox-nntp-password"


@dataclass
class Stack:
    release: PostedRelease
    tmdb: StandIn
    indexer: newznab.Newznab
    indexer_server: StandIn
    nntp: NntpTestServer
    connections: int = 4

    def environment(self) -> dict[str, str]:
        """The settings that point the API and the downloader at the stand-ins."""
        nntp = self.nntp.url(NNTP_USER, NNTP_PASSWORD, connections=self.connections)
        return {
            "TMDB_API_KEY": TMDB_TOKEN,
            "TMDB_BASE_URL": self.tmdb.url,
            "TMDB_IMAGE_BASE_URL": f"{self.tmdb.url}/t/p",
            "NZBGEEK_API_KEY": INDEXER_KEY,
            "NZBGEEK_BASE_URL": self.indexer_server.url,
            "NNTP_SERVERS": nntp,
            "DISPATCH": "local",
        }

    def post(self, files: Mapping[str, bytes], *, domain: str) -> bytes:
        """Post more files on the running Usenet server; returns the NZB listing them (for tests
        that serve a hostile or broken release through the indexer)."""
        posted = make_release(files, fast=True, domain=domain)
        self.release.articles.update(posted.articles)
        return posted.nzb

    def throttle(self, megabytes_per_second: float) -> None:
        """Serve Usenet at about this rate over the downloader's connections (0: loopback speed),
        by delaying each article reply: a line slow enough to watch a movie play before it is
        ready (``make demo DEMO_ARGS="--line-rate 2 --seconds 120"``)."""
        if megabytes_per_second <= 0:
            self.nntp.knobs.delay = 0.0
            return
        self.nntp.knobs.delay = self.connections * SEGMENT_SIZE / (megabytes_per_second * 1e6)

    def reset_faults(self) -> None:
        """Undo what a test scripted: healthy Usenet server, indexer answering normally."""
        knobs = self.nntp.knobs
        knobs.drop.clear()
        knobs.missing.clear()
        knobs.corrupt.clear()
        knobs.delay = 0.0
        self.indexer.overrides.clear()

    def stop(self) -> None:
        """Stop every server; safe to call twice."""
        for stop in (self.tmdb.stop, self.indexer_server.stop, self.nntp.stop):
            with contextlib.suppress(RuntimeError):  # already stopped
                stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_stack(
    workdir: Path,
    *,
    seconds: float = 6.0,
    tmdb_port: int = 0,
    indexer_port: int = 0,
    release: PostedRelease | None = None,
) -> Stack:
    """Build (or reuse) the release and start the stand-ins; ``Stack.stop`` ends them."""
    posted = release or build_release(workdir / "release", seconds=seconds)
    multilingual = build_release(
        workdir / "multilingual",
        name="The.Green.Mile.1999.1080p.BluRay.x264-SANDBOX",
        seconds=seconds,
        make=make_multilingual_movie,
        domain="multilingual.sandbox.invalid",
    )
    posted.articles.update(multilingual.articles)  # one Usenet server carries both
    imdb = {movie_id: imdb_id for movie_id, _, _, imdb_id in tmdb.catalogue()}
    tmdb_server = tmdb.start(TMDB_TOKEN, port=tmdb_port)
    try:
        indexer, indexer_server = newznab.start(
            INDEXER_KEY,
            posted,
            tmdb.catalogue(),
            port=indexer_port,
            own_releases={imdb[MULTILINGUAL_FILM].removeprefix("tt"): multilingual},
        )
    except OSError:
        tmdb_server.stop()
        raise
    knobs = Knobs(username=NNTP_USER, password=NNTP_PASSWORD)
    nntp = NntpTestServer(posted.articles, knobs).start()
    return Stack(posted, tmdb_server, indexer, indexer_server, nntp)
