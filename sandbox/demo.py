"""``make demo``: the whole service on one machine, with stand-ins for every third party.

Starts moto's S3 server (standing in for R2, as ``make run`` does), the sandbox stack (TMDB, Newznab and
NNTP stand-ins serving a freshly generated movie) and the Chalice app on the ``local`` stage, whose
in-process queue starts ``python -m downloader run`` per job. Only settings differ from production.
State lives in ``.data/demo/`` (wiped at each start, kept after exit so the logs can be read): the job
store, the downloaders' work folders and logs, and ``api.log`` with the API's JSON log lines, which go
there instead of the terminal so the instructions stay readable. Ctrl-C stops everything: running
downloaders get SIGTERM (their handler marks the job stopped) and every server is shut down.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from chalice.local import LocalDevServer
from moto.server import ThreadedMotoServer

from sandbox.release import ToolMissing, require_tools
from sandbox.stack import Stack, start_stack
from sandbox.walkthrough import curl_commands, walk

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".data" / "demo"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="API port")
    parser.add_argument("--s3-port", type=int, default=9000, help="local S3 (R2 stand-in) port")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the demo movie")
    parser.add_argument(
        "--walkthrough", action="store_true", help="run the curl sequence once and print it"
    )
    parser.add_argument("--exit", action="store_true", help="stop after the walkthrough")
    parser.add_argument("--verbose", action="store_true", help="API logs on the terminal")
    parser.add_argument(
        "--state", type=Path, default=STATE, help=f"state folder, wiped at start ({STATE})"
    )
    args = parser.parse_args(argv)
    state: Path = args.state.resolve()
    try:
        require_tools()
    except ToolMissing as missing:
        sys.stderr.write(f"make demo: {missing}\n")
        return 2

    # Ctrl-C and ``kill`` both stop cleanly, even when started where SIGINT is ignored (``&``, CI).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    say = _terminal()
    say("building the demo release (ffmpeg → RAR volumes → par2 → yEnc articles)…")
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=args.s3_port, verbose=False)
    s3.start()
    stack = start_stack(state, seconds=args.seconds)
    server = None
    try:
        server = _api_server(args.host, args.port, _settings(stack, args.s3_port, state))
        base = f"http://{args.host}:{args.port}/api/movies-on-demand"
        say(_banner(stack, base, args.s3_port, state))
        if not args.verbose:
            _send_logs_to(state / "api.log")
        thread = threading.Thread(target=server.server.serve_forever, daemon=True)
        thread.start()
        if args.walkthrough:
            ok = walk(base, say)
            if args.exit:
                return 0 if ok else 1
        say("serving; Ctrl-C stops everything")
        threading.Event().wait()
    except KeyboardInterrupt:
        say("\nstopping…")
        return 0
    finally:
        _stop_children()
        if server is not None:
            server.server.shutdown()
            server.server.server_close()
        stack.stop()
        s3.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _settings(stack: Stack, s3_port: int, state: Path) -> dict[str, str]:
    """What differs from the ``local`` stage: the stand-ins and this demo's own state folder."""
    return {
        **stack.environment(),
        "R2_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "SQLITE_PATH": str(state / "jobs.sqlite3"),
        "WORK_DIR": str(state / "work"),
    }


def _api_server(host: str, port: int, settings: dict[str, str]) -> LocalDevServer:
    """``chalice local --stage local``, in process, with ``settings`` applied after the stage's own.

    Chalice copies the stage's environment variables into ``os.environ`` when it loads the app, which
    would put the demo's job store on ``make run``'s file; the app reads its settings lazily on the
    first request, so setting ours after loading is enough and the app code stays untouched.
    """
    from chalice.cli.factory import CLIFactory

    factory = CLIFactory(str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")
    app = config.chalice_app
    os.environ.update(settings)
    return factory.create_local_server(app, config, host, port)


def _banner(stack: Stack, base: str, s3_port: int, state: Path) -> str:
    lines = [
        "",
        "Movies on Demand — sandbox (everything on loopback, nothing leaves this machine)",
        f"  API            {base}",
        f"  TMDB stand-in  {stack.tmdb.url}   (recorded TMDB responses, tests/fixtures/tmdb)",
        f"  indexer        {stack.indexer_server.url}/api   (Newznab RSS, 6 releases per film)",
        f"  Usenet         127.0.0.1:{stack.nntp.port}   ({len(stack.release.articles)} articles, "
        f"{stack.release.movie_bytes / 1e6:.1f} MB movie in RAR volumes + par2)",
        f"  R2 stand-in    http://127.0.0.1:{s3_port}   (moto S3)",
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


def _stop_children() -> None:
    """SIGTERM to the downloaders this process started (only its own children, by pid)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        with contextlib.suppress(OSError):
            pids |= {int(p) for p in (task / "children").read_text().split()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
