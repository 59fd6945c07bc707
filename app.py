"""Movies on Demand API: routes of docs/API_CONTRACT.yml, each parse → service → response.

Business rules live in ``chalicelib``; this module only wires HTTP to it. boto3 is never imported at
module level (here or by what this imports) so discovery cold starts stay fast, and each route loads its
service, adapters and models on first use (``chalicelib.bootstrap``): ``bench/cold_start.py``.
"""

from __future__ import annotations

import os
from typing import Any

#: No pydantic plugins are used; without this, building the first model scans every installed
#: distribution's entry points for one (~17 ms of a cold start's first answer).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from chalice.app import Chalice, CloudWatchEvent, Rate, Response, SQSEvent

from chalicelib import bootstrap, validation, web

#: The SQS queue the dispatcher Lambda consumes. Chalice reads it when packaging (the event source
#: mapping is generated from it), so it is a module constant rather than a runtime setting.
JOBS_QUEUE_NAME = os.environ.get("JOBS_QUEUE_NAME", "movies-on-demand-jobs")

app = Chalice(app_name="movies-on-demand")
app.api.cors = web.cors_config()
app.register_middleware(web.log_requests, "http")

API = web.API_PREFIX
#: Every route takes any Content-Type: the GETs read no body, and fetch validates its own (a wrong
#: type is the contract's INVALID_INPUT there), so no request gets Chalice's 415 body.
ANY_TYPE = ["*/*"]
guard = web.contract_errors(lambda: app.current_request)


def _param(name: str) -> str | None:
    return web.query_param(app.current_request, name)


def _protected() -> bootstrap.Container:
    """The container, after checking the API key (when keys are configured)."""
    services = bootstrap.container()
    web.require_api_key(app.current_request, services.settings.api_keys())
    return services


@app.route(f"{API}/health", methods=["GET"], content_types=ANY_TYPE)
@guard
def health() -> Response:
    return web.ok(bootstrap.container().health())


@app.route(f"{API}/search", methods=["GET"], content_types=ANY_TYPE)
@guard
def search_movies() -> Response:
    query = validation.parse_query(_param("query"))
    page = validation.parse_page(_param("page"))
    discovery = bootstrap.container().discovery
    return web.ok(discovery.search(query, page), cache_seconds=discovery.SEARCH_TTL)


@app.route(f"{API}/popular", methods=["GET"], content_types=ANY_TYPE)
@guard
def popular_movies() -> Response:
    page = validation.parse_page(_param("page"))
    discovery = bootstrap.container().discovery
    return web.ok(discovery.popular(page), cache_seconds=discovery.LIST_TTL)


@app.route(f"{API}/top", methods=["GET"], content_types=ANY_TYPE)
@guard
def top_movies() -> Response:
    page = validation.parse_page(_param("page"))
    discovery = bootstrap.container().discovery
    return web.ok(discovery.top_rated(page), cache_seconds=discovery.LIST_TTL)


@app.route(f"{API}/movies/{{id}}", methods=["GET"], content_types=ANY_TYPE)
@guard
def movie_details(id: str) -> Response:
    movie_id = validation.parse_movie_id(id)
    return web.ok(bootstrap.container().discovery.details(movie_id))


@app.route(f"{API}/movies/{{id}}/similar", methods=["GET"], content_types=ANY_TYPE)
@guard
def similar_movies(id: str) -> Response:
    movie_id = validation.parse_movie_id(id)
    page = validation.parse_page(_param("page"))
    discovery = bootstrap.container().discovery
    return web.ok(discovery.similar(movie_id, page), cache_seconds=discovery.LIST_TTL)


@app.route(f"{API}/movies/{{id}}/releases", methods=["GET"], content_types=ANY_TYPE)
@guard
def movie_releases(id: str) -> Response:
    services = _protected()
    movie_id = validation.parse_movie_id(id)
    quality = validation.parse_quality(_param("quality_preference"))
    return web.ok(services.releases.releases(movie_id, quality))


@app.route(f"{API}/movies/{{id}}/fetch", methods=["POST"], content_types=ANY_TYPE)
@guard
def fetch_movie(id: str) -> Response:
    services = _protected()
    movie_id = validation.parse_movie_id(id)
    body = validation.parse_fetch_request(*web.raw_body(app.current_request))
    job, created = services.fetch.fetch(movie_id, body)
    return web.ok(job, status=202 if created else 200, retry_after=job.poll_after_seconds)


@app.route(f"{API}/movies/{{id}}/stream", methods=["GET"], content_types=ANY_TYPE)
@guard
def movie_stream(id: str) -> Response:
    services = _protected()
    root = web.api_root(app.current_request)
    return web.ok(services.stream.stream(validation.parse_stream_ref(id), api_root=root))


@app.route(f"{API}/jobs/{{jobId}}/hls.m3u8", methods=["GET"], content_types=ANY_TYPE)
@guard
def hls_playlist(jobId: str) -> Response:  # noqa: N803 - the contract names the path parameter
    """Signed by its own query (players send no X-Api-Key), so no API key is asked for."""
    job_id = validation.parse_job_id(jobId)
    expires, signature = validation.parse_playlist_link(_param("expires"), _param("signature"))
    text = bootstrap.container().hls.playlist(job_id, expires, signature)
    return web.playlist(text)


@app.route(f"{API}/movies/{{id}}/position", methods=["PUT"], content_types=ANY_TYPE)
@guard
def save_position(id: str) -> Response:
    services = _protected()
    movie_id = validation.parse_movie_id(id)
    position = validation.parse_position(*web.raw_body(app.current_request))
    return web.ok(services.stream.save_position(movie_id, position))


@app.route(f"{API}/jobs", methods=["GET"], content_types=ANY_TYPE)
@guard
def list_jobs() -> Response:
    services = _protected()
    statuses = validation.parse_listable_status(_param("status"))
    limit, offset = validation.parse_window(_param("limit"), _param("offset"))
    return web.ok(services.jobs.list(statuses, limit, offset))


@app.route(f"{API}/jobs/{{jobId}}", methods=["GET"], content_types=ANY_TYPE)
@guard
def job_status(jobId: str) -> Response:  # noqa: N803 - the contract names the path parameter
    services = _protected()
    job = services.jobs.get(validation.parse_job_id(jobId))
    return web.ok(job, retry_after=job.poll_after_seconds)


@app.route(f"{API}/history", methods=["GET"], content_types=ANY_TYPE)
@guard
def watch_history() -> Response:
    services = _protected()
    limit, offset = validation.parse_window(_param("limit"), _param("offset"))
    return web.ok(services.stream.history(limit, offset))


@app.route(f"{API}/stats", methods=["GET"], content_types=ANY_TYPE)
@guard
def service_stats() -> Response:
    return web.ok(_protected().stats.stats())


@app.schedule(Rate(1, unit=Rate.HOURS))
def cleanup(event: CloudWatchEvent) -> dict[str, Any]:
    """Hourly: delete movies unwatched past retention, fail silent jobs, purge old rows."""
    return web.run_job("cleanup", lambda: bootstrap.container().cleanup.run())


@app.on_sqs_message(queue=JOBS_QUEUE_NAME, batch_size=10)
def dispatch_jobs(event: SQSEvent) -> dict[str, Any]:
    """Claim each queued job and start its downloader; only failed records are redelivered."""
    records = [(record.to_dict()["messageId"], record.body) for record in event]
    context = event.context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    outcome = bootstrap.container().dispatcher.handle_batch(
        records, (lambda: remaining() / 1000) if callable(remaining) else None
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.retry]}
