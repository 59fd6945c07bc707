"""Hostile input, one test per class, through the running stack: refused with a clear 4xx or a job
error, and nothing written outside the job's own work folder.

Covered elsewhere, not repeated here: malformed and traversal job ids on ``GET /jobs/{id}``
(``test_jobs_api.py::test_malformed_job_ids_are_invalid_input``) and stream refs
(``test_stream_refs_are_validated``); NZB bombs and external entities at the parser
(``downloader/test_nzb.py::test_broken_or_hostile_nzbs_are_refused_with_a_reason``); links in RAR
archives (``test_unpack.py::test_links_in_archives_are_refused_before_writing``); redirects at the
indexer client (``downloader/test_indexer.py``). The tests below drive the same classes end to end:
from the HTTP API or the indexer's reply, through the downloader subprocess, to the job's state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import httpd
from sandbox.httpd import Reply, StandIn
from sandbox.rar import write_volumes
from tests.live import FIGHT_CLUB, Live

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>
"""


@pytest.fixture
def elsewhere() -> Iterator[StandIn]:
    """Another host (``localhost`` rather than the indexer's ``127.0.0.1``) that must never be asked."""
    server = httpd.StandIn(lambda request: Reply(200, b"<nzb/>", "application/x-nzb")).start()
    yield server
    server.stop()


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_a_job_id_with_traversal_never_reaches_the_downloaders_disk(
    live: Live, tmp_path: Path
) -> None:
    message = {
        "job_id": "job_1_../../../escape",
        "movie_id": 550,
        "release_id": "r",
        "release_title": "t",
    }
    work = tmp_path / "work"
    env = {**os.environ, "JOB_MESSAGE": json.dumps(message), "WORK_DIR": str(work)}

    result = subprocess.run(
        [sys.executable, "-m", "downloader", "run"], env=env, capture_output=True, timeout=60
    )

    assert result.returncode == 2
    assert b"JOB_MESSAGE is missing or malformed" in result.stderr
    assert not work.exists()


@pytest.mark.parametrize("member", ["../../../escape.mkv", "/tmp/movies-on-demand-escape.mkv"])
def test_archive_entries_escaping_the_folder_fail_the_job_and_write_nothing(
    live: Live, tmp_path: Path, member: str
) -> None:
    folder = tmp_path / "evil-release"
    volumes = write_volumes(member, b"\x1aE\xdf\xa3" + b"x" * 50_000, folder, "Evil.2024", 30_000)
    nzb = live.stack.post({p.name: p.read_bytes() for p in volumes}, domain="evil.invalid")
    live.stack.indexer.override("get", Reply(200, nzb, "application/x-nzb"))
    before = files_under(tmp_path)

    job = live.fetch(278, {"mode": "auto"}).json
    failed = live.wait(job["job_id"])

    assert failed["status"] == "error"
    assert "unsafe path" in failed["error_message"]
    written = files_under(tmp_path) - before
    assert all(
        path.parent.name == "logs" or path.name.startswith("jobs.sqlite3") for path in written
    )
    assert not Path("/tmp/movies-on-demand-escape.mkv").exists()
    assert live.work_leftovers() == []


def test_an_xml_bomb_for_an_nzb_fails_the_job_quickly(live: Live) -> None:
    bomb = BOMB + b'<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb"><head>&g;</head></nzb>'
    live.stack.indexer.override("get", Reply(200, bomb, "application/x-nzb"))

    job = live.fetch(240).json
    failed = live.wait(job["job_id"])

    assert failed["status"] == "error"
    assert "NZB" in failed["error_message"]


def test_an_xml_bomb_from_the_indexer_is_an_upstream_error(live: Live) -> None:
    bomb = BOMB + b"<rss><channel><title>&g;</title></channel></rss>"
    live.stack.indexer.override("movie", Reply(200, bomb, "application/rss+xml"))
    live.stack.indexer.override("search", Reply(200, bomb, "application/rss+xml"))

    listing = live.get("/movies/424/releases")

    assert listing.status == 502
    assert listing.json["code"] == "NZBGEEK_ERROR"
    assert live.get("/jobs").json["total"] == 0


def test_an_nzb_redirect_to_another_host_is_refused_before_it_is_followed(
    live: Live, elsewhere: StandIn
) -> None:
    target = elsewhere.url.replace("127.0.0.1", "localhost") + "/evil.nzb"
    live.stack.indexer.override("get", Reply(302, b"", "text/plain", {"Location": target}))

    job = live.fetch(502356).json
    failed = live.wait(job["job_id"])

    assert failed["status"] == "error"
    assert "redirected to another host" in failed["error_message"]
    assert elsewhere.requests == []


def test_enclosure_urls_of_other_hosts_are_never_fetched(live: Live, elsewhere: StandIn) -> None:
    """The downloader rebuilds the NZB URL from the release id and its own indexer setting; what the
    indexer's reply says the NZB URL is never decides where we connect (nor carries our key)."""
    real = live.stack.indexer.route(
        httpd.Request(
            "GET", "/api", {"t": "movie", "imdbid": "0111161", "apikey": "sandbox-indexer-key"}, {}
        )
    ).body
    foreign = real.replace(live.stack.indexer_server.url.encode(), elsewhere.url.encode())
    live.stack.indexer.override("movie", Reply(200, foreign, "application/rss+xml"))

    job = live.fetch(278).json
    done = live.wait(job["job_id"])

    assert done["status"] == "ready", live.downloader_log(job["job_id"])
    assert elsewhere.requests == []


def test_an_oversized_fetch_body_is_refused_before_any_work(live: Live) -> None:
    body = json.dumps({"mode": "auto", "padding": "x" * 2_000_000})
    headers = {"Content-Type": "application/json"}

    refused = live.api.post(
        f"/api/movies-on-demand/movies/{FIGHT_CLUB}/fetch", body=body, headers=headers
    )

    assert refused.status == 400
    assert refused.json["code"] == "INVALID_INPUT"
    assert live.get("/jobs").json["total"] == 0


def test_cr_lf_in_query_strings_never_becomes_a_header(live: Live) -> None:
    injected = "fight%0D%0AX-Injected:%20yes"

    found = live.get(f"/search?query={injected}")
    ranked = live.get(
        f"/movies/{FIGHT_CLUB}/releases?quality_preference=1080p%0D%0AX-Injected:%201"
    )

    assert found.status == 200
    assert "x-injected" not in {name.lower() for name in found.headers}
    asked = live.stack.tmdb.asked("/3/search/movie")[-1]
    assert asked.query["query"] == "fight\r\nX-Injected: yes"
    assert "x-injected" not in asked.headers
    assert ranked.status == 400
    assert "x-injected" not in {name.lower() for name in ranked.headers}


def test_cr_lf_in_a_release_id_never_reaches_the_indexer(live: Live) -> None:
    asked_before = len(live.stack.indexer_server.requests)

    refused = live.fetch(FIGHT_CLUB, {"mode": "manual", "release_id": "abc\r\nX-Injected: 1"})

    assert refused.status in (400, 404)
    asked = live.stack.indexer_server.requests[asked_before:]
    assert all(r.query.get("t") != "get" for r in asked)
    assert live.get("/jobs").json["total"] == 0
