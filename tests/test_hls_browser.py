"""A real browser watches a movie while it downloads: headless Chromium (Debian ``chromium``) plays
the HLS the API hands out before the job is ready, seeks within what is published, then plays the
MP4 once it is ready.

Everything is real except the download itself: ``make run``'s process (``python -m
scripts.run_local``, its moto S3 server as R2) serves the API; the segments are what the streaming
tail's ffmpeg output writes (``downloader.streaming.hls.hls_arguments`` on a real H.264/AAC movie),
published as the publisher does mid-download (the first segments and an EVENT playlist without its
end). Chromium plays it with its own HLS support (``<video src>``); the page reports the media
element's events into its DOM, and ``--dump-dom`` prints it once the page's load event fires, which
a deliberately slow image holds back for a few seconds of real playback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.jobs import JobStatus, to_iso, utcnow
from downloader.streaming.hls import hls_arguments
from sandbox.httpd import Reply, Request, StandIn
from tests.seeding import seed_job

ROOT = Path(__file__).resolve().parent.parent
#: hls.js (npm, package-lock.json): what web players use where the browser has no HLS of its own
#: that takes segments from another origin (Chromium's native HLS refuses them; R2 is another origin).
HLS_JS = ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"
API = "/api/movies-on-demand"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: apt-get install chromium (.ci/run does)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 16-second H.264/AAC movie with a keyframe a second: its MP4, and its HLS output."""
    folder = tmp_path_factory.mktemp("browser-movie")
    mp4, hls = folder / "movie.mp4", folder / "hls"
    hls.mkdir()
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24"),
            *("-f", "lavfi", "-i", "sine=frequency=440", "-t", "16", "-g", "24"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart"),
            str(mp4),
        ],
        check=True,
    )
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-i", str(mp4), "-map", "0:v:0", "-map", "0:a:0"),
            *("-c", "copy", *hls_arguments(hls, 4)),
        ],
        check=True,
    )
    return mp4, hls


@pytest.fixture
def local_api(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``make run``'s process on free ports, with a job store of the test's own."""
    port, s3_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("R2_", "TMDB_", "JOB_"))},
        "SQLITE_PATH": str(tmp_path / "jobs.sqlite3"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.run_local", "--port", str(port), "--s3-port", str(s3_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{base}{API}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError("make run's API did not start")
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id="local-access-key",
            aws_secret_access_key="local-secret-key",
            region_name="us-east-1",
        )
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket="movies-local")
        # As Terraform configures R2 for the web player's origins (hls.js fetches with CORS).
        s3.put_bucket_cors(
            Bucket="movies-local",
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": ["*"],
                        "AllowedMethods": ["GET", "HEAD"],
                        "AllowedHeaders": ["*"],
                    }
                ]
            },
        )
        store = JobStore(SqliteExecutor(tmp_path / "jobs.sqlite3"), cache_seconds=0)
        yield {"base": base, "s3": s3, "store": store}
    finally:
        process.terminate()
        process.wait(timeout=20)


class Page:
    """Serves one page, hls.js, and a slow image that holds the page's load event back."""

    def __init__(self, html: str, seconds: float) -> None:
        def answer(request: Request) -> Reply:
            if request.path == "/hls.min.js":
                return Reply(200, HLS_JS.read_bytes(), "text/javascript")
            if request.path.startswith("/slow"):
                time.sleep(seconds)
                return Reply(204)
            return Reply(200, html.encode(), "text/html")

        self.server = StandIn(answer, name="player-page").start()

    def play(self) -> dict[str, Any]:
        """What the media element did, as the page wrote it into its DOM."""
        assert CHROMIUM is not None
        url = f"{self.server.url}/"
        dumped = subprocess.run(
            [
                CHROMIUM,
                *("--headless", "--no-sandbox", "--disable-gpu", "--mute-audio"),
                "--autoplay-policy=no-user-gesture-required",
                *("--dump-dom", url),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        self.server.stop()
        found = re.search(r'<pre id="report">(.*?)</pre>', dumped, flags=re.S)
        assert found, dumped[-2000:]
        report: dict[str, Any] = json.loads(found.group(1).replace("&quot;", '"'))
        return report


def player(src: str, *, seek_to: float | None, hls: bool) -> str:
    """A page playing ``src`` muted (through hls.js when ``hls``), seeking once to ``seek_to``
    after a second of playback."""
    seek = "null" if seek_to is None else str(seek_to)
    attach = (
        f'const h = new Hls(); h.loadSource("{src}"); h.attachMedia(v);'
        " h.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) { seen.error = d.details; write(); } });"
        if hls
        else f'v.src = "{src}";'
    )
    return f"""<!doctype html><html><body>
<script src="/hls.min.js"></script>
<video id="v" muted autoplay playsinline></video>
<pre id="report">{{}}</pre><img src="/slow">
<script>
const v = document.getElementById("v"), out = document.getElementById("report");
const seen = {{played: [], seeked: null, error: null, duration: null}};
function write() {{ seen.duration = v.duration; out.textContent = JSON.stringify(seen); }}
v.addEventListener("timeupdate", () => {{ seen.played.push(v.currentTime); write(); }});
v.addEventListener("error", () => {{
  seen.error = v.error && (v.error.code + " " + v.error.message); write(); }});
let asked = false;
v.addEventListener("seeked", () => {{ if (asked) {{ seen.seeked = v.currentTime; write(); }} }});
v.addEventListener("playing", () => {{ if ({seek} !== null && seen.seeked === null)
  setTimeout(() => {{ asked = true; v.currentTime = {seek}; }}, 1000); }});
write();
{attach}
</script></body></html>"""


def test_chromium_plays_the_hls_before_ready_seeks_in_it_then_plays_the_mp4(
    local_api: dict[str, Any], movie: tuple[Path, Path]
) -> None:
    mp4, hls = movie
    store: JobStore = local_api["store"]
    s3, base = local_api["s3"], local_api["base"]
    job = seed_job(
        store, JobStatus.DOWNLOADING, movie_id=550, progress=40.0, playable_at=to_iso(utcnow())
    )
    prefix = f"movies/{job.job_id}/hls/"
    full = (hls / "index.m3u8").read_text()
    lines = full.split("#EXT-X-ENDLIST")[0].splitlines()
    # Mid-download: the first three 4-second segments are up, the playlist names only them.
    upto = [i for i, line in enumerate(lines) if line.endswith(".m4s")][2]
    growing = "\n".join(lines[: upto + 1]) + "\n"
    for name in ["init.mp4", "seg00000.m4s", "seg00001.m4s", "seg00002.m4s"]:
        s3.put_object(Bucket="movies-local", Key=prefix + name, Body=(hls / name).read_bytes())
    s3.put_object(Bucket="movies-local", Key=prefix + "index.m3u8", Body=growing.encode())

    answer = requests.get(f"{base}{API}/movies/550/stream", timeout=10).json()
    assert answer["url"] is None
    watched = Page(player(answer["hls_url"], seek_to=6.0, hls=True), seconds=5).play()

    assert watched["error"] is None, watched
    assert watched["seeked"] is not None, watched
    assert 5.5 <= watched["seeked"] <= 6.5  # within the 12 published seconds
    after_seek = [t for t in watched["played"] if t > watched["seeked"]]
    assert after_seek, watched
    assert max(after_seek) - watched["seeked"] >= 1.0, watched  # time goes on

    # Ready: the MP4 is up and the job says so; the page now plays the answer's url.
    s3.put_object(
        Bucket="movies-local",
        Key=f"movies/{job.job_id}/movie.mp4",
        Body=mp4.read_bytes(),
        ContentType="video/mp4",
    )
    now = utcnow()
    store.transition(
        job.job_id,
        from_statuses=[JobStatus.DOWNLOADING],
        to=JobStatus.READY,
        now=to_iso(now),
        ready_at=to_iso(now),
        expires_at=to_iso(now + timedelta(days=7)),
        object_key=f"movies/{job.job_id}/movie.mp4",
        content_type="video/mp4",
        size_bytes=mp4.stat().st_size,
    )
    ready = requests.get(f"{base}{API}/movies/550/stream", timeout=10).json()
    assert ready["url"] is not None
    assert ready["hls_url"] is None  # the published playlist never got its end
    final = Page(player(ready["url"], seek_to=None, hls=False), seconds=3).play()

    assert final["error"] is None, final
    assert 15.5 < final["duration"] < 16.5
    assert max(final["played"]) >= 1.0, final
