"""``make run``: the API on embedded defaults, no cloud account needed.

Starts an S3-compatible endpoint on loopback (moto's server, standing in for R2, so stream URLs open in
a browser and honour Range requests), then serves the Chalice app on the ``local`` stage, whose
settings point the job store at a SQLite file and object storage at that endpoint (settings in the
environment win: ``SQLITE_PATH=… make run``). Both ports are taken first: one in use ends the run at
once, saying which variable picks another. Ctrl-C, SIGTERM (to this process or to ``make``) and SIGHUP
stop everything it started, the downloaders included.

No auto-reload by default: the server keeps its warm caches across store writes and costs nothing
idle. ``--reload`` (``RELOAD=1 make run``) restarts the API when its code changes: a supervisor keeps
the two sockets and the S3 data and restarts the API in a child process when ``app.py``,
``chalicelib/`` or ``.chalice/config.json`` changes (nothing else is watched, so ``.data/`` and
``.venv/`` never restart it; requests that arrive during a restart wait instead of being refused).

``--job-store d1-local`` (``make run JOB_STORE=d1-local``) puts the job store on real D1 semantics
instead: the D1 gateway Worker under miniflare (Cloudflare's workerd and its D1, from npm), its data
kept in .data/d1-local, reached by the production D1 executor over HTTP (stage ``local-d1``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from scripts import local_api
from scripts.local_api import PortInUse
from scripts.local_gateway import LocalGateway

ROOT = local_api.ROOT
PROG = "make run"
#: What the reloader watches: the code and the configuration the API runs, nothing else.
WATCHED = ("app.py", ".chalice/config.json", "chalicelib")
#: The accounts the banner says are missing: without them parts of the API answer a clear 500.
ACCOUNTS = ("TMDB_API_KEY", "NZBGEEK_API_KEY", "NNTP_SERVERS")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.run_local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="API port (PORT)")
    parser.add_argument(
        "--s3-port", type=int, default=9000, help="local S3 endpoint port (S3_PORT)"
    )
    parser.add_argument(
        "--reload", action="store_true", help="restart the API when its code changes (RELOAD=1)"
    )
    parser.add_argument(
        "--job-store",
        choices=["sqlite", "d1-local"],
        default="sqlite",
        help="sqlite (default): a local file; d1-local: the D1 gateway Worker on miniflare",
    )
    # The reloader's child: the supervisor's listening socket and pid.
    parser.add_argument("--api-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the local stage's SQLITE_PATH is relative to the project
    local_api.stop_on_signals(parent=args.supervisor)
    stage = "local-d1" if args.job_store == "d1-local" else "local"
    if args.api_fd is not None:
        return _serve_child(socket.socket(fileno=args.api_fd), stage)
    try:
        s3_socket = local_api.listen(
            "127.0.0.1", args.s3_port, what="S3 stand-in", variable="S3_PORT"
        )
        try:
            api_socket = local_api.listen(args.host, args.port, what="API", variable="PORT")
        except PortInUse:
            s3_socket.close()
            raise
    except PortInUse as busy:
        sys.stderr.write(f"{PROG}: {busy}\n")
        return 2
    except KeyboardInterrupt:
        return 0
    s3 = local_api.S3StandIn(s3_socket).start()
    os.environ["R2_ENDPOINT_URL"] = s3.url
    gateway: LocalGateway | None = None
    try:
        if args.job_store == "d1-local":
            token = secrets.token_urlsafe(32)
            gateway = LocalGateway(token, persist=ROOT / ".data" / "d1-local").start()
            os.environ.update(
                {"CF_API_BASE_URL": gateway.base_url, "CF_API_TOKEN": token, "JOB_STORE": "d1"}
            )
            print(f"job store: D1 gateway Worker on miniflare at {gateway.url}", flush=True)
        print(_banner(local_api.api_base(api_socket), s3.url, reload=args.reload), flush=True)
        if args.reload:
            return _supervise(api_socket, stage)
        return _serve(api_socket, stage)
    except KeyboardInterrupt:
        return 0
    finally:
        local_api.ignore_signals()
        local_api.stop_children()
        s3.stop()
        if gateway is not None:
            gateway.stop()


def _serve(sock: socket.socket, stage: str) -> int:
    """The API in this process until interrupted; its downloaders are stopped by the caller."""
    server = local_api.api_server(
        sock, {"R2_ENDPOINT_URL": os.environ["R2_ENDPOINT_URL"]}, stage=stage
    )
    thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
    thread.start()
    try:
        threading.Event().wait()
    finally:
        server.server.shutdown()
        server.server.server_close()
    return 0


def _serve_child(sock: socket.socket, stage: str) -> int:
    """The reloader's child: the API on the supervisor's socket until the supervisor stops it."""
    try:
        return _serve(sock, stage)
    except KeyboardInterrupt:
        return 0
    finally:
        local_api.ignore_signals()
        local_api.stop_children()


def _supervise(sock: socket.socket, stage: str) -> int:
    """Run the API in a child process on ``sock`` and restart it whenever the code changes."""
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    command = [
        *(sys.executable, "-m", "scripts.run_local"),
        *("--api-fd", str(fd), "--supervisor", str(os.getpid())),
        *("--job-store", "d1-local" if stage == "local-d1" else "sqlite"),
    ]
    seen = code_files()
    child = subprocess.Popen(command, pass_fds=[fd], cwd=ROOT)
    reported_exit = False
    while True:
        time.sleep(0.5)
        if child.poll() is not None and not reported_exit:
            print(
                f"{PROG}: the API exited ({child.returncode}); fix the code to restart it",
                flush=True,
            )
            reported_exit = True
        now = code_files()
        changed = sorted(
            path for path in seen.keys() | now.keys() if seen.get(path) != now.get(path)
        )
        if not changed:
            continue
        seen = now
        print(f"{PROG}: {changed[0]} changed, restarting the API", flush=True)
        _stop(child)
        child = subprocess.Popen(command, pass_fds=[fd], cwd=ROOT)
        reported_exit = False


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=local_api.STOP_SECONDS + 5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def code_files(root: Path = ROOT) -> dict[str, int]:
    """Modification times of what the reloader watches (``WATCHED``), by path below ``root``."""
    found: dict[str, int] = {}
    for name in WATCHED:
        top = root / name
        paths = sorted(top.rglob("*.py")) if top.is_dir() else [top]
        for path in paths:
            try:
                found[str(path.relative_to(root))] = path.stat().st_mtime_ns
            except OSError:  # removed while we looked: the next pass sees it gone
                continue
    return found


def _banner(base: str, s3_url: str, *, reload: bool) -> str:
    missing = [name for name in ACCOUNTS if not os.environ.get(name)]
    lines = [
        "",
        "Movies on Demand — make run (the local stage: jobs in SQLite, objects in moto's S3)",
        f"  API            {base}",
        f"  R2 stand-in    {s3_url}   (moto S3)",
        "",
        "Try it (every route starts with the API base above; docs/API_CONTRACT.yml lists them):",
        "",
        f"  curl -s {base}/health",
    ]
    if "TMDB_API_KEY" not in missing:
        lines.append(f'  curl -s "{base}/search?query=fight%20club"')
    if missing:
        lines += [
            "",
            f"Not set: {', '.join(missing)}. Discovery needs TMDB_API_KEY, releases and fetch",
            "NZBGEEK_API_KEY and NNTP_SERVERS (README); make demo runs the whole flow without them.",
        ]
    if reload:
        watching = "restarts the API when app.py, chalicelib/ or .chalice/config.json change"
    else:
        watching = "no auto-reload (RELOAD=1 make run restarts the API on code changes)"
    lines += ["", f"serving; {watching}; Ctrl-C stops everything"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
