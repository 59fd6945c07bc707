"""The HTTP edge: turns service results and ``ApiError``s into Chalice responses, and logs requests.

This is the only module that renders errors, so every route answers with the contract's error body
(``{"error", "code", "request_id"}``) and an unexpected exception becomes INTERNAL_ERROR with the request
id in the log and the body, never a stack trace. What Chalice answers itself before a view runs (a
method the path does not serve) is put in the same shape by the request middleware, and the local
gateway's unknown routes by ``no_route`` (API Gateway's own answers: infra/terraform/gateway_responses.tf).
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from chalice.app import CORSConfig, Request, Response

from chalicelib.errors import (
    ApiError,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from chalicelib.logs import current_secrets, logger, scrub

if TYPE_CHECKING:
    from pydantic import BaseModel

View = TypeVar("View", bound=Callable[..., Any])


def cors_config() -> CORSConfig:
    """CORS for browser frontends; the allowed origin comes from ``CORS_ALLOW_ORIGIN`` (default ``*``)."""
    return CORSConfig(
        allow_origin=os.environ.get("CORS_ALLOW_ORIGIN", "*"),
        allow_headers=["X-Api-Key"],
        expose_headers=["Retry-After", "X-Request-Id"],
        max_age=600,
    )


def request_id(request: Request | None) -> str:
    """The Lambda request id (what CloudWatch shows), else API Gateway's, else a fresh one."""
    if request is not None:
        aws_request_id = getattr(getattr(request, "lambda_context", None), "aws_request_id", None)
        if aws_request_id:
            return str(aws_request_id)
        context_id = (request.context or {}).get("requestId")
        if context_id:
            return str(context_id)
    return uuid.uuid4().hex


def ok(
    body: BaseModel | dict[str, Any],
    *,
    status: int = 200,
    cache_seconds: int = 0,
    retry_after: int | None = None,
) -> Response:
    """A JSON success response.

    ``cache_seconds`` lets browsers and CDNs reuse public data; ``retry_after`` tells pollers of work
    in progress when to come back (the job store's request budget is finite).
    """
    payload = body if isinstance(body, dict) else body.model_dump(mode="json")
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if cache_seconds:
        headers["Cache-Control"] = f"public, max-age={cache_seconds}"
    else:
        headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(body=payload, status_code=status, headers=headers)


def error_response(error: ApiError, rid: str) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
    }
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    body = {
        "error": scrub(error.message, current_secrets()),
        "code": error.code,
        "request_id": rid,
        **error.body_extras(),
    }
    return Response(body=body, status_code=error.status, headers=headers)


def contract_errors(current_request: Callable[[], Request | None]) -> Callable[[View], View]:
    """Decorator factory: the view's ``ApiError``s and unexpected exceptions become contract errors."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except ApiError as error:
                rid = request_id(current_request())
                level = logger.error if error.status >= 500 else logger.info
                level(
                    "request failed",
                    extra={
                        "code": error.code,
                        "status": error.status,
                        "error": scrub(error.message, current_secrets()),
                    },
                )
                return error_response(error, rid)
            except Exception:
                rid = request_id(current_request())
                logger.exception("unhandled error", extra={"request_id": rid})
                return error_response(
                    InternalError(f"internal error; quote request id {rid} when reporting it"), rid
                )

        return cast(View, guarded)

    return decorate


def log_requests(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: request keys on every log line, one access-log line, and ``X-Request-Id``."""
    rid = request_id(event)
    ids = {
        key: value
        for key, value in (
            ("movie_id", (event.uri_params or {}).get("id")),
            ("job_id", (event.uri_params or {}).get("jobId")),
        )
        if value is not None and len(value) <= 64
    }
    logger.append_keys(request_id=rid, method=event.method, path=event.path, **ids)
    started = time.perf_counter()
    try:
        response = in_contract_shape(event, get_response(event), rid)
        response.headers["X-Request-Id"] = rid
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        body = response.body if isinstance(response.body, dict) else {}
        code = body.get("code") if response.status_code >= 400 else None
        logger.info("request", extra={"status": response.status_code, "duration_ms": elapsed})
        # Powertools' metrics load with the first request, not with ``import app``.
        from chalicelib.metrics import record_request

        record_request(event.path, event.method, response.status_code, code, elapsed)
        return response
    finally:
        logger.remove_keys(["request_id", "method", "path", "movie_id", "job_id"])


def in_contract_shape(event: Request, response: Response, rid: str) -> Response:
    """``response`` unless it is one of Chalice's own error bodies (``{"Code", "Message"}``), which
    Chalice gives before a view runs, so the views' guard never sees them: that one in the contract's
    shape, with the CORS headers a browser needs to read it. 405 (a method the path does not serve)
    keeps its ``Allow`` header."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    allowed = str(response.headers.get("Allow", ""))
    error: ApiError
    if response.status_code == 405:
        served = f"; it serves {allowed}" if allowed else ""
        error = MethodNotAllowed(f"{event.method} is not served on {event.path}{served}")
    elif response.status_code < 500:
        error = InvalidInput(str(body["Message"]))
    else:
        logger.error(
            "chalice error", extra={"status": response.status_code, "error": body["Message"]}
        )
        error = InternalError(f"internal error; quote request id {rid} when reporting it")
    rendered = error_response(error, rid)
    if allowed:
        rendered.headers["Allow"] = allowed
    rendered.headers.update(cors_config().get_access_control_headers())
    return rendered


#: Where every route of the contract starts; unknown routes are told so.
API_PREFIX = "/api/movies-on-demand"


def no_route(method: str, path: str) -> Response:
    """The local gateway's answer to a path no route matches (Chalice's own is API Gateway's
    ``403 Missing Authentication Token``): 404 NOT_FOUND saying where the API is. The query string is
    left out of the message, as it may carry a key."""
    path = path.split("?", 1)[0][:200]
    rid = uuid.uuid4().hex
    error = NotFound(
        f"no route {method[:16]} {path}: every path of this API starts with {API_PREFIX}/ "
        f"(try GET {API_PREFIX}/health)"
    )
    response = error_response(error, rid)
    response.headers.update(cors_config().get_access_control_headers())
    response.headers["X-Request-Id"] = rid
    logger.info(
        "request", extra={"request_id": rid, "method": method[:16], "path": path, "status": 404}
    )
    return response


def api_root(request: Request | None) -> str:
    """The API's root URL as the request came in (scheme, host, any stage prefix, ``API_PREFIX``),
    for absolute links in answers (API Gateway's default domain puts the stage first: ``/prod/api/
    ...``); just ``API_PREFIX`` when the request names no host."""
    headers = request.headers if request is not None else None
    host = headers.get("host") if headers else None
    if request is None or not headers or not host:
        return API_PREFIX
    scheme = headers.get("x-forwarded-proto") or "http"
    path = str((request.context or {}).get("path") or "")
    at = path.find(API_PREFIX)
    return f"{scheme}://{host}{path[:at] if at > 0 else ''}{API_PREFIX}"


def playlist(text: str) -> Response:
    """An HLS playlist; never cached, since an EVENT playlist grows and its links expire."""
    headers: dict[str, str | list[str]] = {
        "Content-Type": "application/vnd.apple.mpegurl",
        "Cache-Control": "no-store",
    }
    return Response(body=text, status_code=200, headers=headers)


def query_param(request: Request | None, name: str) -> str | None:
    """One query parameter (the last, if repeated), or None; Chalice gives None for no query string."""
    params = request.query_params if request is not None else None
    if params is None:
        return None
    value = params.get(name)
    return str(value) if value is not None else None


def raw_body(request: Request | None) -> tuple[bytes | None, str | None]:
    """The request body and its Content-Type, for routes that validate JSON themselves.

    Routes accept any content type (``content_types=["*/*"]``) so a wrong one is answered with the
    contract's INVALID_INPUT, not Chalice's own 415 body.
    """
    if request is None:
        return None, None
    body = request.raw_body
    return body.encode() if isinstance(body, str) else body, request.headers.get("content-type")


def require_api_key(request: Request | None, accepted: tuple[str, ...]) -> None:
    """When API keys are configured, the request must carry one of them in ``X-Api-Key``.

    Every configured key is compared in constant time (no early exit), so response timing reveals
    neither a key's prefix nor which key matched.
    """
    if not accepted:
        return
    headers = request.headers if request is not None else {}
    offered = (headers.get("x-api-key") or "").encode()
    matched = False
    for key in accepted:
        matched |= hmac.compare_digest(offered, key.encode())
    if not matched:
        raise Unauthorized("this endpoint needs a valid X-Api-Key header")


def run_job(name: str, work: Callable[[], object]) -> dict[str, Any]:
    """Run a scheduled or queued task with its outcome logged; the summary is the Lambda's result.

    Errors are logged with context and re-raised so the invocation counts as failed (alarms watch it).
    """
    started = time.perf_counter()
    try:
        result = work()
    except Exception:
        logger.exception(f"{name} failed")
        raise
    summary = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else {}  # type: ignore[arg-type]
    summary["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return summary
