"""HLS playlists as the API hands them out (chalicelib/domain/hls.py): every name presigned, and
the playlist's own URL signed so a player needs no headers."""

from __future__ import annotations

import pytest

from chalicelib.domain.hls import (
    playlist_files,
    playlist_signature,
    sign_playlist,
    signature_ok,
)

PUBLISHED = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000000,
seg00000.m4s
#EXTINF:4.000000,
seg00001.m4s
"""


def test_every_name_becomes_its_presigned_url_and_nothing_else_changes() -> None:
    signed = sign_playlist(PUBLISHED, lambda name: f"https://r2.test/{name}?X-Amz-Signature=s")

    assert '#EXT-X-MAP:URI="https://r2.test/init.mp4?X-Amz-Signature=s"' in signed
    lines = signed.splitlines()
    assert lines[-1] == "https://r2.test/seg00001.m4s?X-Amz-Signature=s"
    assert [line for line in lines if line.startswith("#EXT") and "MAP" not in line] == [
        line for line in PUBLISHED.splitlines() if line.startswith("#EXT") and "MAP" not in line
    ]
    assert playlist_files(PUBLISHED) == ["init.mp4", "seg00000.m4s", "seg00001.m4s"]


@pytest.mark.parametrize("name", ["../movie.mp4", "https://evil.test/x.m4s", "seg1.m4s"])
def test_a_playlist_naming_anything_else_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unexpected name"):
        sign_playlist(PUBLISHED + f"#EXTINF:4.0,\n{name}\n", lambda n: n)


def test_the_playlist_url_signature_holds_for_its_job_until_it_expires() -> None:
    key = b"k" * 32
    good = playlist_signature(key, "job_1_a", 1_000)

    assert signature_ok(key, "job_1_a", 1_000, good, now=999.0)
    assert not signature_ok(key, "job_1_a", 1_000, good, now=1_000.0)  # expired
    assert not signature_ok(key, "job_2_b", 1_000, good, now=0.0)  # another job
    assert not signature_ok(key, "job_1_a", 2_000, good, now=0.0)  # a longer life
    assert not signature_ok(b"x" * 32, "job_1_a", 1_000, good, now=0.0)  # another key
