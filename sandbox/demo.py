"""``make demo``: the whole service on one machine, with stand-ins for every third party.

Starts moto's S3 server (standing in for R2, as ``make run`` does), the sandbox stack (TMDB, Newznab and
NNTP stand-ins serving a freshly generated movie, on ports the system picks) and the Chalice app on the
``local`` stage, whose in-process queue starts ``python -m downloader run`` per job. Only settings
differ from production. The API and S3 ports are taken first: one in use ends the demo at once with
one line naming the variable that picks another (and a demo already running keeps its state).
State lives in ``.data/demo/`` (wiped at each start, kept after exit so the logs can be read): the job
store, the downloaders' work folders and logs, and ``api.log`` with the API's JSON log lines, which go
there instead of the terminal so the instructions stay readable. ``--walkthrough`` runs the printed
curl sequence once and keeps serving; ``--exit`` runs it and stops, its outcome the exit status.
With ``--line-rate`` and a long ``--seconds`` the walkthrough shows the movie playable (its HLS link)
long before it is ready.
Ctrl-C, SIGTERM (to this process or to ``make``) and SIGHUP stop everything: running downloaders get
SIGTERM (their handler marks the job stopped) and every server is shut down (``scripts/local_api.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from sandbox.release import ToolMissing, require_tools
from sandbox.stack import Stack, start_stack
from sandbox.walkthrough import curl_commands, walk
from scripts import local_api
from scripts.local_api import PortInUse

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".data" / "demo"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="API port (PORT)")
    parser.add_argument(
        "--s3-port", type=int, default=9000, help="local S3, R2's stand-in (S3_PORT)"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the demo movie")
    parser.add_argument(
        "--line-rate",
        type=float,
        default=0.0,
        help="Usenet line in MB/s (default 0: loopback speed); slow enough, a player starts the "
        "HLS long before the movie is ready",
    )
    parser.add_argument(
        "--walkthrough",
        action="store_true",
        help="run the curl sequence once and print it, then keep serving",
    )
    parser.add_argument(
        "--exit",
        action="store_true",
        help="run the walkthrough, then stop; its outcome is the exit status",
    )
    parser.add_argument("--verbose", action="store_true", help="API logs on the terminal")
    parser.add_argument(
        "--state", type=Path, default=STATE, help=f"state folder, wiped at start ({STATE})"
    )
    args = parser.parse_args(argv)
    args.walkthrough = args.walkthrough or args.exit
    state: Path = args.state.resolve()
    try:
        require_tools()
    except ToolMissing as missing:
        sys.stderr.write(f"make demo: {missing}\n")
        return 2
    local_api.stop_on_signals()
    # The ports first: a demo already running on them keeps its state folder.
    try:
        with contextlib.ExitStack() as taken:
            s3_socket = taken.enter_context(
                local_api.listen("127.0.0.1", args.s3_port, what="S3 stand-in", variable="S3_PORT")
            )
            api_socket = taken.enter_context(
                local_api.listen(args.host, args.port, what="API", variable="PORT")
            )
            taken.pop_all()
    except PortInUse as busy:
        sys.stderr.write(f"make demo: {busy}\n")
        return 2
    except KeyboardInterrupt:
        return 0
    say = _terminal()
    s3 = local_api.S3StandIn(s3_socket).start()
    stack: Stack | None = None
    server = None
    try:
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        say("building the demo release (ffmpeg → RAR volumes → par2 → yEnc articles)…")
        stack = start_stack(state, seconds=args.seconds)
        stack.throttle(args.line_rate)
        server = local_api.api_server(api_socket, _settings(stack, s3.url, state))
        base = local_api.api_base(api_socket)
        say(_banner(stack, base, s3.url, state))
        if not args.verbose:
            _send_logs_to(state / "api.log")
        thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
        thread.start()
        if args.walkthrough:
            then = "then stops (--exit)" if args.exit else "then keeps serving (--exit stops it)"
            say(f"walkthrough: the sequence above, run once for real; the demo {then}")
            ok = walk(base, say)
            if args.exit:
                return 0 if ok else 1
            say("walkthrough done; still serving" if ok else "walkthrough failed; still serving")
        say("serving; Ctrl-C stops everything")
        threading.Event().wait()
    except KeyboardInterrupt:
        say("\nstopping…")
        return 0
    finally:
        local_api.ignore_signals()
        if server is not None:
            server.server.shutdown()
            server.server.server_close()
        else:
            api_socket.close()
        local_api.stop_children()
        if stack is not None:
            stack.stop()
        s3.stop()
    return 0


def _settings(stack: Stack, s3_url: str, state: Path) -> dict[str, str]:
    """What differs from the ``local`` stage: the stand-ins and this demo's own state folder."""
    return {
        **stack.environment(),
        "R2_ENDPOINT_URL": s3_url,
        "SQLITE_PATH": str(state / "jobs.sqlite3"),
        "WORK_DIR": str(state / "work"),
    }


def _banner(stack: Stack, base: str, s3_url: str, state: Path) -> str:
    lines = [
        "",
        "Movies on Demand — sandbox (everything on loopback, nothing leaves this machine)",
        f"  API            {base}",
        f"  TMDB stand-in  {stack.tmdb.url}   (recorded TMDB responses, tests/fixtures/tmdb)",
        f"  indexer        {stack.indexer_server.url}/api   (Newznab RSS, 6 releases per film)",
        f"  Usenet         127.0.0.1:{stack.nntp.port}   ({len(stack.release.articles)} articles, "
        f"{stack.release.movie_bytes / 1e6:.1f} MB movie in RAR volumes + par2)",
        f"  R2 stand-in    {s3_url}   (moto S3)",
        f"  logs           {state / 'api.log'}, {state / 'logs'}/<job>.log",
        "",
        "Try it (films with releases: 550 Fight Club, 238 The Godfather, 278 The Shawshank "
        "Redemption, …):",
        "",
        *curl_commands(base),
        "",
    ]
    return "\n".join(lines)


def _terminal() -> Callable[[str], None]:
    """A handle on the terminal that survives redirecting stdout to the log file."""
    handle = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)

    def say(text: str) -> None:
        handle.write(text + "\n")

    return say


def _send_logs_to(path: Path) -> None:
    """Point file descriptors 1 and 2 (the API's JSON lines, EMF metrics, moto's access log) at
    ``path`` for the rest of the run; the demo speaks through its own copy of the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
