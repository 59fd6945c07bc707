"""The demo's script: the curl commands it prints, and the same sequence run for real (``--walkthrough``).

search → releases → fetch → poll the job → stream URL → a Range request on it. Running it proves the
printed commands work against this very stack before anybody copies them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

MOVIE_ID = 550
FETCH_BODY = '{"mode":"auto","quality_preference":"1080p"}'
#: How long the walkthrough waits for the job; the demo movie is ready in seconds.
DEADLINE_SECONDS = 180.0


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

    deadline = time.monotonic() + DEADLINE_SECONDS
    last = ""
    while job["status"] not in ("ready", "error", "deleted"):
        if time.monotonic() > deadline:
            raise WalkFailed(f"job still {job['status']} after {DEADLINE_SECONDS:.0f} s")
        time.sleep(1.0)
        job = _json(session.get(f"{base}/jobs/{job['job_id']}", timeout=10))
        state = f"{job['status']} {job['progress'] or 0:.0f} %"
        if state != last:
            say(f"  job {state}")
            last = state
    if job["status"] != "ready":
        raise WalkFailed(f"job ended {job['status']}: {job['error_message']}")

    stream = _json(session.get(f"{base}/movies/{MOVIE_ID}/stream", timeout=10))
    head = requests.get(stream["url"], headers={"Range": "bytes=0-1023"}, timeout=10)
    say(
        f"stream: {stream['content_type']}, {stream['size_bytes']} bytes; a Range request answers "
        f"{head.status_code} {head.headers.get('Content-Range', '')}"
    )
    say(f"open in a browser:\n  {stream['url']}")


def _json(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise WalkFailed(f"{response.request.method} {response.url} → {response.status_code}: "
                         f"{response.text[:300]}")  # fmt: skip
    data: dict[str, Any] = json.loads(response.content)
    return data
