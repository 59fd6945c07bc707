"""What ``make run`` and ``make demo`` share: the ports, the API in process, and one way to stop.

- **Ports** are taken before anything else happens (before the demo wipes its state or builds its
  release). One that another program holds ends the run at once with one line naming the port and the
  variable that picks another (``PortInUse``), instead of a thread's traceback or a hang.
- **The API** is the Chalice app on the ``local`` stage served in this process, as ``chalice local``
  serves it but without its reloader (which watches the whole tree, ``.data/`` and ``.venv/``
  included, restarts on every store write and costs a fifth of a core idle). Settings in the
  environment win over the stage's defaults. Requests no route matches are answered in the contract's
  error shape (``ContractGateway``), not with API Gateway's ``403 Missing Authentication Token``.
- **Stopping**: Ctrl-C, SIGTERM, SIGHUP, or the parent (``make``) going away, which GNU make does on
  SIGTERM without passing it on, all end in ``KeyboardInterrupt`` in the main thread
  (``stop_on_signals``); ``stop_children`` then ends every process this one started.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any

from chalice.app import Chalice
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.web import API_PREFIX, no_route

ROOT = Path(__file__).resolve().parent.parent
#: How long stopping waits for the downloaders to record that they were stopped, before SIGKILL.
STOP_SECONDS = 10.0


# --- ports ---------------------------------------------------------------------------------------


class PortInUse(Exception):
    """A port this run cannot listen on; ``str()`` is the one line to print."""

    def __init__(self, port: int, what: str, variable: str, reason: str, free: int | None) -> None:
        example = f" (e.g. {variable}={free})" if free else ""
        super().__init__(
            f"port {port} ({what}) is {reason}; pick another with {variable}=<port>{example}"
        )
        self.port = port
        self.variable = variable


def listen(host: str, port: int, *, what: str, variable: str) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: any free one), or ``PortInUse``."""
    try:
        return _listen(host, port)
    except OSError as exc:
        reasons = {
            errno.EADDRINUSE: "already in use",
            errno.EACCES: "not open to this user",
            errno.EADDRNOTAVAIL: f"not available on {host}",
        }
        reason = reasons.get(exc.errno or 0, f"unusable ({exc.strerror})")
        raise PortInUse(port, what, variable, reason, _free_port_near(host, port)) from None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As http.server does: a port left in TIME_WAIT by the previous run is free to take again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _free_port_near(host: str, port: int) -> int | None:
    for candidate in range(port + 1, min(port + 20, 65535)):
        with contextlib.suppress(OSError), _listen(host, candidate):
            return candidate
    return None


def shown_host(host: str) -> str:
    """The host to put in URLs: a wildcard address is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


# --- the S3 stand-in -----------------------------------------------------------------------------


class S3StandIn:
    """moto's S3 server (R2's stand-in) on an already listening socket, in a daemon thread."""

    def __init__(self, sock: socket.socket) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        host, port = sock.getsockname()[:2]
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(host, port, app, threaded=True, fd=sock.fileno())
        sock.close()  # the server holds its own duplicate of the descriptor
        self.url = f"http://{shown_host(host)}:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3", daemon=True)

    def start(self) -> S3StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


# --- the API -------------------------------------------------------------------------------------


class ContractGateway(ChaliceRequestHandler):
    """Chalice's local gateway, in the contract's shape: every method reaches the app, which answers
    one its path does not serve with 405 METHOD_NOT_ALLOWED (http.server would answer a method it has
    no ``do_`` method for with an HTML 501), and a path no route matches is 404 NOT_FOUND instead of
    API Gateway's ``403 Missing Authentication Token``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if not isinstance(error, ForbiddenError):  # the local gateway's only one: no route matched
            super()._send_error_response(error)
            return
        answer = no_route(self.command, self.path).to_dict()
        headers = {**answer["headers"], **answer["multiValueHeaders"]}
        self._send_http_response(answer["statusCode"], headers, answer["body"])


class _StageDefaults(MutableMapping[str, str]):
    """``os.environ`` as Chalice sees it while loading the app: the stage's environment variables
    fill in what is not set, so settings given on the command line win over the stage's defaults."""

    def __getitem__(self, key: str) -> str:
        return os.environ[key]

    def __setitem__(self, key: str, value: str) -> None:
        os.environ.setdefault(key, value)

    def __delitem__(self, key: str) -> None:
        del os.environ[key]

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def api_server(
    sock: socket.socket, settings: Mapping[str, str], *, stage: str = "local"
) -> LocalDevServer:
    """The app on ``stage`` (``local``, or ``local-d1``: the job store on the D1 gateway), ready to
    serve on ``sock``; ``settings`` win over the environment, which wins over the stage
    (``.chalice/config.json``)."""
    from chalice.cli.factory import CLIFactory

    os.environ.update(settings)
    factory = CLIFactory(str(ROOT), environ=_StageDefaults())
    config = factory.create_config_obj(chalice_stage_name=stage)
    app: Chalice = config.chalice_app
    # As chalice.local.create_local_server does: the current request is per thread.
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice

    def adopt(address: tuple[str, int], handler: Any) -> ThreadedHTTPServer:
        server = ThreadedHTTPServer(address, handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        server.server_address = sock.getsockname()[:2]
        server.server_name, server.server_port = server.server_address
        return server

    host, port = sock.getsockname()[:2]
    return LocalDevServer(app, config, host, port, handler_cls=ContractGateway, server_cls=adopt)


def api_base(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{shown_host(host)}:{port}{API_PREFIX}"


# --- stopping ------------------------------------------------------------------------------------


def stop_on_signals(parent: int | None = None, poll_seconds: float = 0.5) -> None:
    """Ctrl-C, SIGTERM, SIGHUP and the parent process ending all raise ``KeyboardInterrupt`` in the
    main thread. SIGINT counts even where it is ignored (``&``, CI). GNU make, sent SIGTERM, exits
    without passing it on, leaving its recipe running: the parent's end is noticed by polling.
    ``parent``: the process that must be the parent (one that may already have ended)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    expected = os.getppid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    if expected != 1:
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def ignore_signals() -> None:
    """While stopping: a second Ctrl-C or SIGTERM must not cut the clean-up short."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def descendants(pid: int | None = None) -> list[int]:
    """Every live process below ``pid`` (default: this one), children first."""
    found: list[int] = []
    parents = [pid or os.getpid()]
    while parents:
        current = parents.pop()
        for child in _children(current):
            found.append(child)
            parents.append(child)
    return found


def _children(pid: int) -> list[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            pids |= {int(p) for p in (task / "children").read_text().split()}
    return sorted(pids)


def alive(pid: int) -> bool:
    """Running (an exited child its parent has not reaped yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def stop_children(timeout: float = STOP_SECONDS) -> None:
    """SIGTERM to the processes this one started (the downloaders: their handler records the job as
    stopped), then SIGKILL to whatever below this process is still running after ``timeout``: also
    the tools a downloader ran (par2, ffmpeg), which its exit would otherwise leave to init."""
    below = set(descendants())
    for pid in _children(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        below |= set(descendants())
        if not any(alive(pid) for pid in below):
            return
        time.sleep(0.05)
    for pid in below | set(descendants()):
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
