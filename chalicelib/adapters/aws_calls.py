"""boto3 plumbing shared by the R2, SQS and ECS adapters: call logging and reading its errors.

One log line and one metric per boto3 call, like ``logged_request`` for HTTP.

botocore announces every API call on its event bus; hooking ``before-call`` / ``after-call`` /
``after-call-error`` on a client covers every operation, paginated or retried, without wrapping each
call site. Only the operation, HTTP status (or error class) and duration are logged: request
parameters hold object keys and queue bodies, never needed to diagnose a slow or failing call.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

from chalicelib.adapters.http import note_upstream_call

Client = TypeVar("Client")

_STARTED = "mod_started"


def log_calls(client: Client, target: str) -> Client:
    """``client`` with its calls logged under ``target`` (``r2``, ``sqs``, ``ecs``)."""
    events: Any = client.meta.events  # type: ignore[attr-defined]

    def started(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.perf_counter()

    def finished(context: dict[str, Any], model: Any, http_response: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", "error")
        _log(target, model.name, status, context)

    def failed(context: dict[str, Any], model: Any, exception: Exception, **_: Any) -> None:
        _log(target, model.name, type(exception).__name__, context)

    events.register("before-call", started)
    events.register("after-call", finished)
    events.register("after-call-error", failed)
    return client


def _log(target: str, operation: str, status: int | str, context: dict[str, Any]) -> None:
    note_upstream_call(target, operation, status, context.get(_STARTED, time.perf_counter()))


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``NoSuchKey``, ``ThrottlingException``…),
    or None for anything else (transport errors have none)."""
    response: Any = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status a botocore ``ClientError`` carries, if any."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None
