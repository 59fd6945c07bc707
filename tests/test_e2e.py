"""End to end: a person finds a film, lists its releases, fetches it, waits, and plays the stream.

Everything is real except the third parties, which are the sandbox's loopback stand-ins (the same ones
``make demo`` runs): the TMDB and Newznab replies, the Usenet server and a generated H.264/AAC movie
posted as RAR volumes with par2. The downloader runs as a subprocess, as it does under ``make run``,
and the movie it uploads to moto's S3 server is fetched back through the signed URL with Range
requests and read by ffprobe. Every API response is checked against the contract by the ``api`` client.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.live import FIGHT_CLUB, MOVIE_SECONDS, Live

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)


def ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_search_to_stream_plays_the_movie(live: Live, tmp_path: Path) -> None:
    found = live.get("/search?query=fight%20club")
    assert found.status == 200
    assert FIGHT_CLUB in [movie["id"] for movie in found.json["results"]]

    listing = live.get(f"/movies/{FIGHT_CLUB}/releases?quality_preference=1080p")
    assert listing.status == 200
    assert listing.json["imdb_id"] == "tt0137523"
    releases = listing.json["releases"]
    by_group = {r["title"].rsplit("-", 1)[1]: r for r in releases}
    assert by_group["FAKE"]["rejected"], "a CAM must never be picked"
    assert by_group["LOCKED"]["rejected"], "a passworded release must never be picked"
    best = next(r for r in releases if not r["rejected"])
    assert best["resolution"] == "1080p"
    assert releases.index(best) < releases.index(by_group["FAKE"])

    started = live.fetch(FIGHT_CLUB)
    assert started.status == 202
    job = started.json
    assert (job["status"], job["release_id"]) == ("queued", best["release_id"])
    again = live.fetch(FIGHT_CLUB)
    assert (again.status, again.json["job_id"]) == (200, job["job_id"]), "one job per movie"

    ready = live.wait(job["job_id"])
    assert ready["status"] == "ready", f"{ready}\n{live.downloader_log(job['job_id'])}"
    assert ready["progress"] == 100
    assert ready["expires_at"] is not None
    assert live.get(f"/movies/{FIGHT_CLUB}").json["job_status"]["status"] == "ready"

    stream = live.get(f"/movies/{FIGHT_CLUB}/stream")
    assert stream.status == 200
    size = stream.json["size_bytes"]
    assert stream.json["content_type"] == "video/mp4"
    first = requests.get(stream.json["url"], headers={"Range": "bytes=0-"}, timeout=10)
    assert first.status_code == 206
    assert first.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    assert len(first.content) == size
    middle = requests.get(stream.json["url"], headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert (middle.status_code, middle.content) == (206, first.content[1000:2000])

    movie = tmp_path / "streamed.mp4"
    movie.write_bytes(first.content)
    probed = ffprobe(movie)
    codecs = {s["codec_type"]: s["codec_name"] for s in probed["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert "mp4" in probed["format"]["format_name"]
    assert abs(float(probed["format"]["duration"]) - MOVIE_SECONDS) < 0.5
    assert live.work_leftovers() == [], "the downloader must clean its work folder"


def test_a_film_without_an_imdb_id_has_no_releases_and_nothing_to_fetch(live: Live) -> None:
    russian_version = 973534  # recorded by TMDB without an IMDb id
    listing = live.get(f"/movies/{russian_version}/releases")
    assert listing.status == 200
    assert (listing.json["imdb_id"], listing.json["releases"]) == (None, [])
    refused = live.fetch(russian_version)
    assert refused.status == 404


def test_fetching_the_passworded_release_by_hand_fails_and_says_why(live: Live) -> None:
    locked = live.release_id(238, "LOCKED")
    started = live.fetch(238, {"mode": "manual", "release_id": locked})
    assert started.status == 202

    failed = live.wait(started.json["job_id"])

    assert failed["status"] == "error"
    assert "password" in failed["error_message"]
    assert live.get("/movies/238/stream").status == 400
    assert live.work_leftovers() == []


def test_several_films_fetched_at_once_all_become_ready(live: Live) -> None:
    """Downloaders started together (the first ones also racing to create the bucket) all finish."""
    films = (278, 680, 155)
    jobs = [live.fetch(film) for film in films]
    assert [job.status for job in jobs] == [202, 202, 202]

    finished = [live.wait(job.json["job_id"]) for job in jobs]

    for film, job in zip(films, finished, strict=True):
        assert job["status"] == "ready", f"{film}: {job}\n{live.downloader_log(job['job_id'])}"
        assert live.get(f"/movies/{film}/stream").status == 200
    assert live.work_leftovers() == []
