"""Lambda cold start: ``import app`` and each route family's first answer, in fresh processes.

A cold Lambda imports the handler module, then serves its first event; both are on the user's clock.
Each figure is the median of ``--runs`` fresh interpreters, timed inside the process (interpreter
start-up is the same for every line and left out), against the floor of the same run: ``import
chalice, requests`` (the framework and the HTTP client every route needs). Printed ratios are over
that floor. The first answers go through Chalice's own Lambda entry (``app.app(event, context)``
with an API Gateway proxy event): ``health``; ``popular`` (discovery, TMDB answered by the sandbox's
stand-in on loopback); ``job_status`` (an unknown job in a fresh SQLite store, a contract 404). Each
line also says which of boto3, pydantic, Powertools and requests were loaded: boto3 only by routes that
use R2, SQS or ECS.

Target (issue #16): ``import app`` at most 1.3 times the floor.

    .venv/bin/python -m bench.cold_start [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import cast

from sandbox import tmdb

ROOT = Path(__file__).resolve().parent.parent
API = "/api/movies-on-demand"

#: What each fresh process runs between its two clocks; ``{event}`` is a JSON proxy event or null.
CHILD = """
import json, sys, time
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
event = json.loads({event!r})
status = None
if event is not None:
    class Context:
        function_name = "bench"; memory_limit_in_mb = 1024; aws_request_id = "bench-request"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:bench"
        def get_remaining_time_in_millis(self): return 30000
    status = app.app(event, Context())["statusCode"]
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "total": t2 - t0, "status": status,
                  "loaded": [m for m in {watched!r} if m in sys.modules]}}))
"""

#: Libraries whose loading each line reports: boto3 only for routes that use R2, SQS or ECS.
WATCHED = ("boto3", "pydantic", "aws_lambda_powertools", "requests")


def proxy_event(resource: str, path: str, parameters: dict[str, str] | None = None) -> str:
    """A REST API (v1) proxy event as API Gateway sends it to the Lambda."""
    return json.dumps(
        {
            "resource": resource,
            "path": path,
            "httpMethod": "GET",
            "headers": {"Host": "bench.local", "Accept": "application/json"},
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": parameters,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": "GET",
                "path": f"/prod{path}",
                "requestId": "bench-request",
                "stage": "prod",
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": None,
            "isBase64Encoded": False,
        }
    )


def run_child(imports: str, event: str | None, env: dict[str, str]) -> dict[str, object]:
    code = CHILD.format(imports=imports, event=event if event else "null", watched=WATCHED)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per line (median)")
    args = parser.parse_args()

    stand_in = tmdb.start("bench-tmdb-token")
    with tempfile.TemporaryDirectory(prefix="cold-start-") as work:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TMDB_", "NZBGEEK_", "R2_", "CF_", "JOB_", "DISPATCH"))
        }
        env.update(
            TMDB_API_KEY="bench-tmdb-token",
            TMDB_BASE_URL=stand_in.url,
            SQLITE_PATH=str(Path(work) / "jobs.sqlite3"),
            POWERTOOLS_METRICS_NAMESPACE="bench",
            PYTHONDONTWRITEBYTECODE="",
        )
        job = "job_1700000000000_abcdefghij"
        lines = {
            "floor: import chalice, requests": ("import chalice, requests", None),
            "import app": ("import app", None),
            "first answer: health": ("import app", proxy_event(f"{API}/health", f"{API}/health")),
            "first answer: popular": (
                "import app",
                proxy_event(f"{API}/popular", f"{API}/popular"),
            ),
            "first answer: job_status": (
                "import app",
                proxy_event(f"{API}/jobs/{{jobId}}", f"{API}/jobs/{job}", {"jobId": job}),
            ),
        }
        run_child("import app", None, env)  # compile bytecode once, untimed
        floor = 0.0
        for name, (imports, event) in lines.items():
            runs = [run_child(imports, event, env) for _ in range(args.runs)]
            key = "import" if event is None else "total"
            median = statistics.median(float(str(run[key])) for run in runs)
            if not floor:
                floor = median
            status = runs[0]["status"]
            loaded = ", ".join(cast(list[str], runs[0]["loaded"])) or "none of " + "/".join(WATCHED)
            print(
                f"{name}: {median * 1000:.0f} ms, ratio {median / floor:.2f}"
                + (f", status {status}" if status is not None else "")
                + f", loaded: {loaded}"
            )
    stand_in.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
