"""Watch while it downloads, through the API: the stream answer's ``hls_url`` and the playlist route.

moto's S3 server holds what the downloader would have published (tests/test_hls.py checks that part
against real ffmpeg); a player's requests go over HTTP to the playlist route and to the presigned
segment URLs it lists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.domain.hls import COMPLETE
from chalicelib.domain.jobs import Job, JobStatus, encode_media, to_iso, utcnow
from tests.conftest import R2_BUCKET, R2_SECRET, TMDB, ApiClient, LogCapture
from tests.seeding import seed_job

API = "/api/movies-on-demand"
SEGMENTS = {"init.mp4": b"init-bytes", "seg00000.m4s": b"first", "seg00001.m4s": b"second"}
GROWING = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000000,
seg00000.m4s
#EXTINF:4.000000,
seg00001.m4s
"""


def published(s3: S3Client, job: Job, playlist: str = GROWING) -> None:
    prefix = f"movies/{job.job_id}/hls/"
    for name, body in SEGMENTS.items():
        s3.put_object(Bucket=R2_BUCKET, Key=prefix + name, Body=body)
    s3.put_object(Bucket=R2_BUCKET, Key=prefix + "index.m3u8", Body=playlist.encode())


def playable(status: JobStatus = JobStatus.DOWNLOADING, **fields: Any) -> Job:
    return seed_job(
        bootstrap.container().store, status, movie_id=550, playable_at=to_iso(utcnow()), **fields
    )


def route_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_downloading_movie_with_segments_up_answers_with_its_playlist(
    api: ApiClient, s3_server: str, upstream: responses.RequestsMock
) -> None:
    upstream.add_passthru(s3_server)
    job = playable(progress=30.0)
    published(bootstrap.container().objects.client, job)

    answer = api.get(f"{API}/movies/550/stream", headers={"Host": "api.example.test"})

    assert answer.status == 200
    body = answer.json
    assert body["url"] is None
    assert (body["content_type"], body["size_bytes"]) == (None, None)
    assert body["hls_url"].startswith(f"http://api.example.test{API}/jobs/{job.job_id}/hls.m3u8?")
    playlist = api.get(route_of(body["hls_url"]))
    assert playlist.status == 200
    assert playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "no-store"
    text = playlist.body.decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text
    assert "#EXT-X-ENDLIST" not in text
    urls = [line for line in text.splitlines() if line.startswith("http")]
    init = text.split('#EXT-X-MAP:URI="', 1)[1].split('"', 1)[0]
    fetched = [requests.get(u, timeout=5).content for u in [init, *urls]]
    assert fetched == list(SEGMENTS.values())  # what a player downloads: the published bytes
    assert R2_SECRET not in text


def test_no_watch_is_counted_while_it_downloads(api: ApiClient, s3: S3Client) -> None:
    job = playable()
    published(s3, job)

    assert api.get(f"{API}/movies/550/stream").status == 200

    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert stored.last_watched_at is None
    assert api.get(f"{API}/history").json["total"] == 0


def test_a_tampered_or_expired_playlist_link_is_refused(api: ApiClient, s3: S3Client) -> None:
    job = playable()
    published(s3, job)
    link = route_of(api.get(f"{API}/movies/550/stream").json["hls_url"])
    query = parse_qs(urlsplit(link).query)
    path = link.split("?", 1)[0]
    expires, signature = query["expires"][0], query["signature"][0]
    forged = "0" * 64 if signature != "0" * 64 else "1" * 64

    assert api.get(f"{path}?expires={expires}&signature={forged}").status == 401
    assert api.get(f"{path}?expires={int(expires) + 3600}&signature={signature}").status == 401
    other = seed_job(bootstrap.container().store, JobStatus.DOWNLOADING, movie_id=551)
    assert api.get(link.replace(job.job_id, other.job_id)).status == 401
    assert api.get(f"{path}?expires=soon&signature={signature}").status == 400
    assert api.get(f"{path}?expires=1&signature={signature}").json["code"] == "UNAUTHORIZED"


def test_a_failed_job_whose_segments_were_removed_has_no_playlist(
    api: ApiClient, s3: S3Client
) -> None:
    job = playable()
    published(s3, job)
    link = route_of(api.get(f"{API}/movies/550/stream").json["hls_url"])
    for name in [*SEGMENTS, "index.m3u8"]:
        s3.delete_object(Bucket=R2_BUCKET, Key=f"movies/{job.job_id}/hls/{name}")

    answer = api.get(link)

    assert answer.status == 404
    assert answer.json["code"] == "NOT_FOUND"


def test_a_movie_that_cannot_be_streamed_is_not_ready_until_it_is(api: ApiClient) -> None:
    seed_job(bootstrap.container().store, JobStatus.DOWNLOADING, movie_id=550, progress=10.0)

    answer = api.get(f"{API}/movies/550/stream")

    assert answer.status == 400
    assert "not ready" in answer.json["error"]


def ready_with(s3: S3Client, playlist: str, media: dict[str, object] | None) -> Job:
    """A ready job whose HLS was published as ``playlist``; ``media`` is what the downloader
    recorded in the job at ready (None: a job from before the record existed)."""
    fields: dict[str, Any] = {"ready_at": to_iso(utcnow())}
    if media is not None:
        fields["media"] = encode_media(media)
    seeded = playable(JobStatus.READY, **fields)
    key = f"movies/{seeded.job_id}/movie.mp4"
    s3.put_object(Bucket=R2_BUCKET, Key=key, Body=b"mp4", ContentType="video/mp4")
    job = bootstrap.container().store.transition(  # the key, as the downloader records it
        seeded.job_id,
        from_statuses=[JobStatus.READY],
        to=JobStatus.READY,
        now=seeded.updated_at,
        object_key=key,
    )
    assert job is not None
    published(s3, job, playlist)
    return job


def r2_calls(logs: LogCapture) -> list[str]:
    return [line["method"] for line in logs.lines("upstream call") if line["target"] == "r2"]


def test_at_ready_both_links_are_given_when_the_hls_is_whole_and_r2_is_asked_nothing_for_it(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    upstream.get(f"{TMDB}/3/movie/550", status=404)
    ready_with(s3, GROWING + "#EXT-X-ENDLIST\n", {COMPLETE: True})
    before = len(r2_calls(logs))

    body = api.get(f"{API}/movies/550/stream").json

    # the MP4's HEAD (is the file still there, its type and size) and nothing for the HLS
    assert r2_calls(logs)[before:] == ["HeadObject"]
    assert "X-Amz-Signature=" in body["url"]
    assert body["hls_url"] is not None
    assert api.get(route_of(body["hls_url"])).body.decode().rstrip().endswith("#EXT-X-ENDLIST")


def test_at_ready_an_hls_stopped_midway_is_not_offered(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    upstream.get(f"{TMDB}/3/movie/550", status=404)
    ready_with(s3, GROWING, {COMPLETE: False})  # a missing article stopped it, the MP4 by repair
    before = len(r2_calls(logs))

    body = api.get(f"{API}/movies/550/stream").json

    assert r2_calls(logs)[before:] == ["HeadObject"]
    assert "X-Amz-Signature=" in body["url"]
    assert body["hls_url"] is None


def test_a_job_ready_before_the_record_existed_gets_the_mp4_alone(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    """Its playlist may well be whole, but nothing in the job says so: the MP4 is the safe answer."""
    upstream.get(f"{TMDB}/3/movie/550", status=404)
    ready_with(s3, GROWING + "#EXT-X-ENDLIST\n", None)

    body = api.get(f"{API}/movies/550/stream").json

    assert "X-Amz-Signature=" in body["url"]
    assert body["hls_url"] is None
