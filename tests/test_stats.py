"""/stats on a seeded store: counts, storage, time-to-ready (average and p95), recent errors and the
news servers' figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.domain.jobs import JobStatus, to_iso, utcnow
from chalicelib.domain.server_figures import ServerFigures, encode_servers
from tests.conftest import ApiClient
from tests.seeding import seed_job

API = "/api/movies-on-demand"


def seed(movie_id: int, status: JobStatus, *, created_ago: timedelta, **fields: object) -> None:
    moved_at = fields.pop("updated_at", None)
    seed_job(
        bootstrap.container().store,
        status,
        movie_id=movie_id,
        at=utcnow() - created_ago,
        moved_at=str(moved_at) if moved_at else None,
        **fields,
    )


def test_stats_on_a_seeded_store(api: ApiClient) -> None:
    hour = timedelta(hours=1)
    for i in range(1, 21):  # ready within the week, 100 s .. 2000 s after creation
        created_ago = 2 * hour
        ready_at = utcnow() - created_ago + timedelta(seconds=100 * i)
        seed(
            i,
            JobStatus.READY,
            created_ago=created_ago,
            ready_at=to_iso(ready_at),
            size_bytes=1000 * i,
        )
    seed(100, JobStatus.DELETED, created_ago=200 * hour, ready_at=to_iso(utcnow() - 199 * hour))
    seed(101, JobStatus.DOWNLOADING, created_ago=hour)
    seed(102, JobStatus.QUEUED, created_ago=hour)
    recent = to_iso(utcnow() - hour)
    seed(103, JobStatus.ERROR, created_ago=hour, error_class="stale", updated_at=recent)
    seed(104, JobStatus.ERROR, created_ago=hour, error_class="stale", updated_at=recent)
    seed(105, JobStatus.ERROR, created_ago=hour, error_class="password", updated_at=recent)
    seed(106, JobStatus.ERROR, created_ago=72 * hour, error_class="dispatch")

    response = api.get(f"{API}/stats")

    assert response.status == 200
    body = response.json
    assert body["jobs_by_status"] == {
        "queued": 1,
        "downloading": 1,
        "preparing": 0,
        "ready": 20,
        "error": 4,
        "deleted": 1,
    }
    assert body["active_jobs"] == 2
    assert body["movies_ready"] == 20
    assert body["bytes_stored"] == 1000 * sum(range(1, 21))
    timing = body["time_to_ready"]
    assert (timing["window_days"], timing["count"]) == (7, 20)
    assert timing["average_seconds"] == pytest.approx(1050, abs=1)
    assert timing["p95_seconds"] == pytest.approx(1900, abs=1)  # nearest rank: the 19th of 20
    assert body["errors_last_24h"] == {"stale": 2, "password": 1}


def test_stats_of_an_empty_store(api: ApiClient) -> None:
    body = api.get(f"{API}/stats").json

    assert body["movies_ready"] == 0
    assert body["time_to_ready"]["average_seconds"] is None
    assert body["time_to_ready"]["p95_seconds"] is None
    assert set(body["jobs_by_status"].values()) == {0}


def test_stats_cost_one_job_store_round_trip(api: ApiClient) -> None:
    executor = bootstrap.container().store.executor
    before = executor.round_trips

    api.get(f"{API}/stats")

    assert executor.round_trips - before == 1


def test_stats_are_behind_the_api_key(api: ApiClient, env: pytest.MonkeyPatch) -> None:
    env.setenv("API_KEYS", "stats-key")
    bootstrap.reset()

    assert api.get(f"{API}/stats").status == 401
    assert api.get(f"{API}/stats", headers={"X-Api-Key": "stats-key"}).status == 200


def servers_json(*figures: ServerFigures) -> str:
    return encode_servers(figures)


def test_stats_add_up_each_news_servers_figures_of_the_last_24_hours(api: ApiClient) -> None:
    hour = timedelta(hours=1)
    main, backup = "news.example.com:563", "backup.example.net:563"
    seed(
        1,
        JobStatus.READY,
        created_ago=2 * hour,
        ready_at=to_iso(utcnow() - hour),
        servers=servers_json(
            ServerFigures(main, 900, 100, 2, 700_000_000, 70.0),
            ServerFigures(backup, 100, 0, 0, 80_000_000, 70.0),
        ),
    )
    seed(  # failed an hour ago, after downloading
        2,
        JobStatus.ERROR,
        created_ago=2 * hour,
        updated_at=to_iso(utcnow() - hour),
        error_class="missing_articles",
        servers=servers_json(ServerFigures(main, 100, 400, 0, 100_000_000, 30.0)),
    )
    seed(  # ended two days ago: outside the window
        3,
        JobStatus.READY,
        created_ago=50 * hour,
        ready_at=to_iso(utcnow() - 49 * hour),
        servers=servers_json(ServerFigures(main, 5, 5, 5, 5, 5.0)),
    )
    seed(4, JobStatus.DOWNLOADING, created_ago=hour)  # still going: no figures yet

    body = api.get(f"{API}/stats").json

    assert body["servers_last_24h"] == [
        {
            "server": backup,
            "jobs": 1,
            "articles_fetched": 100,
            "articles_missing": 0,
            "articles_corrupt": 0,
            "bytes": 80_000_000,
            "seconds": 70.0,
            "throughput_bps": round(80_000_000 / 70, 1),
        },
        {
            "server": main,
            "jobs": 2,
            "articles_fetched": 1000,
            "articles_missing": 500,
            "articles_corrupt": 2,
            "bytes": 800_000_000,
            "seconds": 100.0,
            "throughput_bps": 8_000_000.0,
        },
    ]


def test_a_jobs_answer_carries_its_server_figures(api: ApiClient) -> None:
    store = bootstrap.container().store
    figures = ServerFigures("news.example.com:563", 10, 1, 0, 1000, 2.0)
    ended = seed_job(store, JobStatus.ERROR, error_class="usenet", servers=servers_json(figures))
    going = seed_job(store, JobStatus.DOWNLOADING, movie_id=551)

    assert api.get(f"{API}/jobs/{ended.job_id}").json["servers"] == [
        {
            "server": "news.example.com:563",
            "articles_fetched": 10,
            "articles_missing": 1,
            "articles_corrupt": 0,
            "bytes": 1000,
            "seconds": 2.0,
            "throughput_bps": 500.0,
        }
    ]
    assert api.get(f"{API}/jobs/{going.job_id}").json["servers"] == []
