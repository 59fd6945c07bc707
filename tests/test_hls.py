"""Watch while it downloads: HLS segments published by the streaming tail (downloader/streaming/hls.py).

Real tools as in tests/test_streaming.py: a stored RAR5 set with par2, the NNTP test server, ffmpeg,
moto's S3. What a viewer would notice: the job says when it became playable, before it was ready;
the published playlist only ever names segments already up; the segments play back as the whole
movie; a job that fails leaves nothing to play.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.domain.hls import COMPLETE, playlist_files
from chalicelib.domain.jobs import decode_media
from downloader.errors import JobFailed, UploadFailed
from downloader.pipeline import TaskContext, run
from downloader.post.remux import probe
from downloader.streaming.tail import StreamOptions
from downloader.uploader import MIN_PART
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from tests.conftest import R2_BUCKET
from tests.test_pipeline import context_for, start_job
from tests.test_streaming import SEGMENT, build_stored_set, ready_movie

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def keyframed_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The 6-second stored set with a keyframe every second, so HLS can cut 1-second segments."""
    return build_stored_set(tmp_path_factory.mktemp("keyframed-set"), keyframe_every=24)


def hls_objects(s3: S3Client, job_id: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=R2_BUCKET, Prefix=f"movies/{job_id}/hls/")
    return {
        item["Key"].rsplit("/", 1)[1]: s3.get_object(Bucket=R2_BUCKET, Key=item["Key"])[
            "Body"
        ].read()
        for item in listed.get("Contents", [])
    }


def recorded_context(
    files: dict[str, bytes],
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    **knobs: object,
) -> tuple[TaskContext, list[tuple[str, bytes]]]:
    """A streaming job's context whose HLS uploads are recorded (name, body) as they are sent;
    ``knobs`` are the NNTP test server's faults."""
    release = make_release(files, segment_size=SEGMENT)
    context = context_for(release, s3, tmp_path, servers, **knobs)
    context.streaming = StreamOptions(part_size=MIN_PART, hls_segment_seconds=1)
    sent: list[tuple[str, bytes]] = []
    put = context.uploader.put

    def recording(key: str, body: bytes, content_type: str, cache_control: str) -> None:
        if key.endswith(".m3u8"):
            assert content_type == "application/vnd.apple.mpegurl"
        put(key, body, content_type, cache_control)
        sent.append((key.rsplit("/", 1)[1], body))

    context.uploader.put = recording  # type: ignore[method-assign]
    return context, sent


def test_segments_go_up_while_it_downloads_and_play_as_the_whole_movie(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    keyframed_set: dict[str, bytes],
) -> None:
    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, keyframed_set, StreamOptions(hls_segment_seconds=1)
    )
    assert outcomes[0].startswith("streamed")
    job = store.get_job(movie.stem)
    assert job is not None
    assert job.ready_at is not None
    assert job.playable_at is not None
    assert job.playable_at <= job.ready_at
    assert decode_media(job.media)[COMPLETE] is True  # the API gives hls_url at ready by this

    published = hls_objects(s3, job.job_id)
    playlist = published["index.m3u8"].decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    names = playlist_files(playlist)
    assert names[0] == "init.mp4"
    assert len(names) >= 6  # 1-second segments of a 6-second movie
    assert set(names) | {"index.m3u8"} == set(published)
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", playlist)]
    assert 5.9 < sum(durations) < 6.2

    joined = tmp_path / "joined.mp4"  # what a player assembles: init segment, then each segment
    joined.write_bytes(b"".join(published[name] for name in names))
    found = probe(joined)
    assert found.video_codec == "h264"
    assert [track.codec for track in found.audio] == ["aac"]
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(joined), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert decoded.returncode == 0
    assert decoded.stderr == ""


def test_an_hls_the_repair_carried_past_a_gap_is_recorded_as_the_whole_movie(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    keyframed_set: dict[str, bytes],
) -> None:
    """An article in the last movie volume is missing: the segments before the gap are up and
    playable while it downloads, par2 repairs, the publisher goes on from the repaired file, and
    the job says at ready that the HLS is the whole movie, so the API offers it beside the MP4."""
    release = make_release(keyframed_set, segment_size=SEGMENT)
    ids = release.message_ids
    last = sorted(name for name in ids if name.endswith(".rar") and len(ids[name]) > 1)[-1]

    movie, _ = ready_movie(
        store,
        s3,
        tmp_path,
        servers,
        keyframed_set,
        StreamOptions(hls_segment_seconds=1),
        missing={ids[last][len(ids[last]) // 2]},
        delay=0.1,  # a line slow enough for the publisher to see segments before the gap
    )

    job = store.get_job(movie.stem)
    assert job is not None
    assert job.ready_at is not None
    assert job.playable_at is not None
    assert decode_media(job.media)[COMPLETE] is True
    playlist = hls_objects(s3, job.job_id).get("index.m3u8", b"").decode()
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")


def test_the_playlist_never_names_a_segment_that_is_not_up(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    keyframed_set: dict[str, bytes],
) -> None:
    context, sent = recorded_context(keyframed_set, s3, tmp_path, servers)
    message, reporter = start_job(store)

    run(message, context, reporter)

    names = [name for name, _ in sent]
    playlists = [(i, body.decode()) for i, (name, body) in enumerate(sent) if name == "index.m3u8"]
    assert playlists
    for at, text in playlists:  # each playlist names only files sent before it
        assert set(playlist_files(text)) <= set(names[:at])
    segments = [name for name in names if name != "index.m3u8"]
    assert len(segments) == len(set(segments))  # each segment sent once


def test_a_job_that_fails_after_segments_went_up_leaves_none(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    keyframed_set: dict[str, bytes],
) -> None:
    """Every segment is up (the stream ended), then storing the movie fails on both paths: the
    segments go, and the failed job no longer says it is playable."""
    context, sent = recorded_context(keyframed_set, s3, tmp_path, servers)

    def refusing(key: str, upload_id: str, parts: object, size: int) -> None:
        context.uploader.abort(key, upload_id)
        raise UploadFailed("object storage could not complete the upload (InternalError)")

    context.uploader.complete = refusing  # type: ignore[method-assign]
    message, reporter = start_job(store)

    with pytest.raises(JobFailed, match="upload failed") as failure:
        run(message, context, reporter)
    playable = store.get_job(message.job_id)
    assert playable is not None
    assert playable.playable_at is not None
    reporter.failed(failure.value.message, failure.value.error_class)  # as the task does

    assert len([name for name, _ in sent if name.endswith(".m4s")]) >= 6
    assert hls_objects(s3, message.job_id) == {}
    failed = store.get_job(message.job_id)
    assert failed is not None
    assert (failed.status.value, failed.error_class) == ("error", "storage")
    assert failed.playable_at is None
