"""The demo's script: the curl commands it prints, and the same sequence run for real (``--walkthrough``).

search → releases → fetch → poll the job → stream URL → a Range request on it. Running it proves the
printed commands work against this very stack before anybody copies them. When the job becomes
playable while it still downloads (``playable_at``: its first HLS segments are up), the walkthrough
says so at once with the ``hls_url`` to open in a player and the playlist as a player gets it, and
at ``ready`` it puts the two moments side by side: on a slow line (``--line-rate``) and a long movie
(``--seconds``) playback starts long before the movie is ready.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from chalicelib.domain.hls import PLAYLIST_TYPE
from chalicelib.domain.jobs import from_iso

MOVIE_ID = 550
FETCH_BODY = '{"mode":"auto","quality_preference":"1080p"}'
#: How long the walkthrough waits for the job to move (its status or progress); the default demo
#: movie is ready in seconds, a long one on a slow line keeps moving.
DEADLINE_SECONDS = 180.0
#: Where the README tells why Chromium needs hls.js for this playlist.
README_HLS = 'README "Watch while it downloads"'


def curl_commands(base: str) -> list[str]:
    return [
        f"  API={base}",
        '  curl -s "$API/search?query=fight%20club"',
        f'  curl -s "$API/movies/{MOVIE_ID}/releases?quality_preference=1080p"',
        f'  curl -s -X POST "$API/movies/{MOVIE_ID}/fetch" -H "Content-Type: application/json" '
        f"-d '{FETCH_BODY}'",
        '  curl -s "$API/jobs/<job_id from the fetch answer>"   # until "status": "ready"',
        f'  curl -s "$API/movies/{MOVIE_ID}/stream"   # open its "url" in a browser',
    ]


def walk(base: str, say: Callable[[str], None]) -> bool:
    """Run the sequence against ``base``; prints each step; False (with the reason) on failure."""
    try:
        _walk(base, say)
    except (requests.RequestException, WalkFailed, KeyError, ValueError) as exc:
        say(f"walkthrough FAILED: {exc}")
        return False
    return True


class WalkFailed(Exception):
    pass


def _walk(base: str, say: Callable[[str], None]) -> None:
    session = requests.Session()
    found = _json(session.get(f"{base}/search", params={"query": "fight club"}, timeout=10))
    titles = [f"{m['id']} {m['title']}" for m in found["results"][:3]]
    say(f"search 'fight club' → {len(found['results'])} films: {', '.join(titles)}, …")

    url = f"{base}/movies/{MOVIE_ID}/releases"
    listing = _json(session.get(url, params={"quality_preference": "1080p"}, timeout=30))
    say(f"releases of {MOVIE_ID} (imdb {listing['imdb_id']}), best first:")
    for release in listing["releases"]:
        verdict = "REJECTED" if release["rejected"] else f"score {release['score']:g}"
        shown = [r for r in release["score_reasons"] if r.startswith("rejected")]
        reasons = "; ".join(shown if release["rejected"] else release["score_reasons"][:3])
        say(f"  {verdict:>12}  {release['title']}  ({reasons})")

    reply = session.post(
        f"{base}/movies/{MOVIE_ID}/fetch",
        data=FETCH_BODY,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    job = _json(reply)
    say(f"fetch → {reply.status_code}, job {job['job_id']} {job['status']}: {job['release_title']}")

    job = _follow(session, base, job, say)
    stream = _json(session.get(f"{base}/movies/{MOVIE_ID}/stream", timeout=10))
    head = requests.get(stream["url"], headers={"Range": "bytes=0-1023"}, timeout=10)
    say(
        f"stream: {stream['content_type']}, {stream['size_bytes']} bytes; a Range request answers "
        f"{head.status_code} {head.headers.get('Content-Range', '')}"
    )
    say(f"open in a browser:\n  {stream['url']}")
    if stream["hls_url"]:
        say(f"or its HLS, the whole movie now:\n  {stream['hls_url']}")
    say(_timing(job))


def _follow(
    session: requests.Session, base: str, job: dict[str, Any], say: Callable[[str], None]
) -> dict[str, Any]:
    """Poll the job until it ends, saying each new state, and the HLS once it is playable."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    last = ""
    announced = False
    while job["status"] not in ("ready", "error", "deleted"):
        if time.monotonic() > deadline:
            raise WalkFailed(f"job still {job['status']}, unchanged for {DEADLINE_SECONDS:.0f} s")
        time.sleep(1.0)
        job = _json(session.get(f"{base}/jobs/{job['job_id']}", timeout=10))
        state = f"{job['status']} {job['progress'] or 0:.0f} %"
        if state != last:
            say(f"  job {state}")
            last = state
            deadline = time.monotonic() + DEADLINE_SECONDS
        playing = job["status"] in ("downloading", "preparing")
        if playing and job["playable_at"] and not announced:
            _playable(session, base, job, say)
            announced = True
    if job["status"] != "ready":
        raise WalkFailed(f"job ended {job['status']}: {job['error_message']}")
    return job


def _playable(
    session: requests.Session, base: str, job: dict[str, Any], say: Callable[[str], None]
) -> None:
    """The stream answer while the job downloads, and its playlist fetched as a player would."""
    stream = _json(session.get(f"{base}/movies/{MOVIE_ID}/stream", timeout=10))
    hls_url = stream["hls_url"]
    if not hls_url:
        raise WalkFailed(f"job {job['job_id']} has playable_at but its stream gives no hls_url")
    playlist = requests.get(hls_url, timeout=10)  # as a player: no session, no headers
    kind = playlist.headers.get("Content-Type", "")
    if playlist.status_code != 200 or kind != PLAYLIST_TYPE:
        raise WalkFailed(f"GET hls_url → {playlist.status_code} {kind}: {playlist.text[:300]}")
    segments = sum(1 for line in playlist.text.splitlines() if line.startswith("#EXTINF"))
    say(
        f"playable after {_seconds(job, 'playable_at'):.1f} s, while still {job['status']}: "
        f"the stream answer gives hls_url (url null until ready)"
    )
    say(f"  its playlist: {playlist.status_code} {kind}, {segments} segments so far, growing")
    say(f"open it in VLC, Safari or ffplay (Chromium plays it through hls.js: {README_HLS}):")
    say(f"  {hls_url}")
    say(f"  ffplay '{hls_url}'")


def _timing(job: dict[str, Any]) -> str:
    ready = _seconds(job, "ready_at")
    if not job["playable_at"]:
        return (
            f"ready after {ready:.1f} s, before any HLS segment was up (a short movie on a fast "
            'line; DEMO_ARGS="--seconds 600 --line-rate 2" shows playback start long before ready)'
        )
    return f"first playable after {_seconds(job, 'playable_at'):.1f} s, ready after {ready:.1f} s"


def _seconds(job: dict[str, Any], moment: str) -> float:
    """Seconds from the fetch (the job's creation) to ``moment``, by the job's own timestamps."""
    return (from_iso(job[moment]) - from_iso(job["created_at"])).total_seconds()


def _json(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise WalkFailed(f"{response.request.method} {response.url} → {response.status_code}: "
                         f"{response.text[:300]}")  # fmt: skip
    data: dict[str, Any] = json.loads(response.content)
    return data
