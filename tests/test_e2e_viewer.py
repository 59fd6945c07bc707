"""End to end, what a viewer expects of a stream: the right audio, subtitles, a note when it is
ready, and where they left off.

The sandbox's multilingual film (The Green Mile: Italian audio first and default, English second,
an English and a forced English SubRip track) is fetched through the whole stack with a
``notify_url`` pointing at a loopback receiver (allowed by the local-stage setting). ffprobe reads the
MP4 the stream URL serves; each WebVTT the stream answer lists is fetched through its own signed URL
and parsed; the receiver checks every event's signature.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib import bootstrap
from chalicelib.domain.notify import verify
from downloader.post.ffmpeg import ON_PATH
from sandbox.httpd import Reply, Request, StandIn
from sandbox.multilingual import CUES
from sandbox.stack import MULTILINGUAL_FILM
from tests.live import FIGHT_CLUB, Live
from tests.webvtt import cues

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)
SECRET = "e2e-notify-secret-5f1c"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def receiver(live: Live, env: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A loopback receiver, and the app (and its downloaders) allowed to call it."""
    server = StandIn(lambda request: Reply(204), name="notify-receiver").start()
    env.setenv("NOTIFY_SECRET", SECRET)
    env.setenv("NOTIFY_ALLOW_LOOPBACK", "true")
    bootstrap.reset()
    yield server
    server.stop()


def events_for(receiver: StandIn, job_id: str, *, wait: float = 30.0) -> list[Request]:
    """The events the receiver got for the job, once one arrived (the downloader sends it after
    writing the state, then exits) and a moment passed for any unwanted second one."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got = [r for r in receiver.asked("/hook") if json.loads(r.body)["job_id"] == job_id]
        if got:
            time.sleep(0.5)
            return [r for r in receiver.asked("/hook") if json.loads(r.body)["job_id"] == job_id]
        time.sleep(0.1)
    return []


def test_the_multilingual_film_plays_in_english_with_subtitles_and_says_it_is_ready(
    live: Live, receiver: StandIn, tmp_path: Path
) -> None:
    started = live.fetch(
        MULTILINGUAL_FILM, {"mode": "auto", "notify_url": f"{receiver.url}/hook?from=e2e"}
    )
    assert started.status == 202
    job = live.wait(started.json["job_id"])
    assert job["status"] == "ready", job

    # The audio: English chosen over the Italian default, and the job says so.
    assert job["audio"]["chosen"]["language"] == "eng"
    assert job["audio"]["reason"] == "original language (en)"
    assert [t["language"] for t in job["audio"]["available"]] == ["ita", "eng"]
    stream = live.get(f"/movies/{MULTILINGUAL_FILM}/stream").json
    movie = tmp_path / "movie.mp4"
    movie.write_bytes(requests.get(stream["url"], timeout=10).content)
    audio = [s for s in ON_PATH.probe(movie)["streams"] if s["codec_type"] == "audio"]
    assert [(s["tags"]["language"], s["disposition"]["default"]) for s in audio] == [("eng", 1)]

    # The subtitles: WebVTT through their own signed URLs, cue times as in the release.
    listed = stream["subtitles"]
    assert [(s["language"], s["label"], s["forced"]) for s in listed] == [
        ("en", "English", False),
        ("en", "Forced", True),
    ]
    for subtitle, expected in zip(listed, (CUES["full"], CUES["forced"]), strict=True):
        served = requests.get(subtitle["url"], timeout=10)
        assert served.status_code == 200
        assert cues(served.content.decode()) == expected
    assert [s["converted"] for s in job["subtitles"]] == [True, True]

    # The notification: one event, signed, saying where to stream from, carrying no secret.
    [event] = events_for(receiver, job["job_id"])
    headers = event.headers
    assert verify(event.body, headers["x-signature-timestamp"], headers["x-signature"], SECRET)
    body = json.loads(event.body)
    assert (body["status"], body["movie_id"]) == ("ready", MULTILINGUAL_FILM)
    assert body["stream_route"] == f"/api/movies-on-demand/movies/{job['job_id']}/stream"
    assert SECRET not in event.body.decode()

    # Where they left off: stored on the latest watch, back in history and the next stream answer.
    saved = live.api.request(
        "PUT",
        f"/api/movies-on-demand/movies/{MULTILINGUAL_FILM}/position",
        body=json.dumps({"position_seconds": 2.5}),
        headers=JSON,
    )
    assert saved.status == 200
    assert live.get("/history").json["items"][0]["position_seconds"] == 2.5
    assert live.get(f"/movies/{MULTILINGUAL_FILM}/stream").json["position_seconds"] == 2.5
    assert live.work_leftovers() == []


def test_a_failed_job_sends_one_failed_event(live: Live, receiver: StandIn) -> None:
    locked = live.release_id(FIGHT_CLUB, "LOCKED")
    started = live.fetch(
        FIGHT_CLUB,
        {"mode": "manual", "release_id": locked, "notify_url": f"{receiver.url}/hook"},
    )
    failed = live.wait(started.json["job_id"])

    assert failed["status"] == "error"
    [event] = events_for(receiver, failed["job_id"])
    body = json.loads(event.body)
    assert (body["event"], body["error_class"]) == ("job.failed", "password")
    assert verify(
        event.body, event.headers["x-signature-timestamp"], event.headers["x-signature"], SECRET
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",  # not in NOTIFY_ALLOWED_HOSTS (none are, here)
        "http://10.0.0.8/in",
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
def test_refused_notify_urls_are_400_through_the_stack(
    live: Live, receiver: StandIn, url: str
) -> None:
    refused = live.fetch(MULTILINGUAL_FILM, {"mode": "auto", "notify_url": url})

    assert refused.status == 400
    assert refused.json["code"] == "INVALID_INPUT"
    assert live.get("/jobs").json["total"] == 0
