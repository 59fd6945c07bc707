"""``make run`` and ``make demo`` as a person runs them: the real make processes, on free ports.

Each start costs seconds (the demo builds its release), so one ``make run`` and one ``make demo`` are
shared by the tests that only look at them, and only what must end a run (SIGTERM, ``--exit``, a port
in use, the reloader) starts its own. What holds:

- no reloader by default: a store write restarts nothing (same process, same keep-alive connection,
  no "Restarting"), and the idle server costs next to no CPU; ``RELOAD=1`` restarts on a code change
  and never on state;
- a port in use ends the run within seconds, non-zero, with one line naming the port and the
  variable that picks another; a demo that finds its port taken leaves the running demo's state;
- SIGTERM, to ``make`` or to the Python process under it, leaves no process of the run behind;
- the banner prints the API base (with ``/api/movies-on-demand``) and a first curl that works;
  unknown paths and wrong methods are answered in the contract's error shape;
- ``--walkthrough`` keeps serving after it and says so, ``--exit`` stops after it;
- on a slow line (``--line-rate``) the walkthrough prints the ``hls_url`` while the job downloads,
  and a player's GET of it is a growing HLS playlist before the job is ready;
- the first ``make`` shows pip's progress (read from ``make -n``, never by installing), and
  ``.ci/run`` waits for the dpkg lock in both of its apt calls.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.contract import load_contract

API = "/api/movies-on-demand"
MAKE = shutil.which("make")
#: Generous: a loaded CI machine starts the API in a few seconds and builds the demo release in ten.
START_SECONDS = 90.0
#: The walkthrough gives up on a job unchanged for 180 s; the demo movies are ready in seconds.
WALKTHROUGH_SECONDS = 240.0
#: A port in use must end the run in seconds (make, Python start-up and one bind).
PORT_IN_USE_SECONDS = 20.0
#: SIGTERM: the API stops, downloaders get up to 10 s to record that they were stopped.
STOP_SECONDS = 25.0

pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


# --- running make --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    """The caller's environment without what would change the runs: no accounts (the banner lists
    them as missing), no make flags of an enclosing ``make test``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TMDB_API_KEY", "NZBGEEK_API_KEY"}
        and name not in {"NNTP_SERVERS", "API_KEYS", "SQLITE_PATH", "JOB_STORE"}
    }
    return {**env, **extra}


class Run:
    """A ``make`` process in its own session, its output collected line by line."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        assert MAKE is not None
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [MAKE, "--no-print-directory", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # the session id is make's pid: everything the run starts
        )
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``; fails with the output so far."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self._changed:
            while True:
                for line in self.lines:
                    if found := regex.search(line):
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    pytest.fail(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def python(self, module: str) -> int:
        """The pid of the Python process under make running ``module``."""
        pid = self.find(module)
        if pid is None:
            pytest.fail(f"no {module} process under make; output:\n{self.output}")
        return pid

    def find(self, module: str) -> int | None:
        for pid in descendants(self.process.pid):
            with contextlib.suppress(OSError):
                if module in Path(f"/proc/{pid}/cmdline").read_bytes().decode():
                    return pid
        return None

    def left(self) -> list[str]:
        """What still runs in the run's session: nothing, once it has stopped."""
        return session(self.process.pid)

    def stop(self, pid: int | None = None, sig: int = signal.SIGTERM) -> float:
        """Send ``sig`` to ``pid`` (default make); seconds until every process of the run ended."""
        sent = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid or self.process.pid, sig)
        deadline = sent + STOP_SECONDS
        while (self.left() or self.process.poll() is None) and time.monotonic() < deadline:
            time.sleep(0.1)
        return time.monotonic() - sent

    def kill(self) -> None:
        """Teardown: whatever is left of the run, killed (again: one may be starting a child)."""
        for _ in range(20):
            left = self.left()
            if not left:
                break
            for line in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line.split()[0]), signal.SIGKILL)
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(timeout=10)


def stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command: state, ppid, pgrp, session, …"""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text.rsplit(")", 1)[-1].split()


def session(sid: int) -> list[str]:
    left = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat_fields(entry.name)
            if fields[3] == str(sid) and fields[0] not in ("Z", "X"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                left.append(f"{entry.name} {command}")
    return left


def descendants(pid: int) -> list[int]:
    found, parents = [], [pid]
    while parents:
        current = parents.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(p) for p in (task / "children").read_text().split()]
                found += children
                parents += children
    return found


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_contract(method: str, url: str, response: requests.Response) -> None:
    path = url.split("://", 1)[1].split("/", 1)[1]
    load_contract().check(
        method, "/" + path, response.status_code, dict(response.headers), response.content
    )


@pytest.fixture(scope="module")
def venv_ready() -> None:
    """These tests run make's real targets, which depend on the venv: never let them install it."""
    assert MAKE is not None
    result = subprocess.run(
        [MAKE, "-q", "venv"], cwd=ROOT, env=environment(), capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip("the venv is not up to date: `make venv` first")


def start_run(tmp: Path, *extra: str, **env: str) -> tuple[Run, int, int]:
    port, s3_port = free_port(), free_port()
    run = Run(
        "run",
        f"PORT={port}",
        f"S3_PORT={s3_port}",
        *extra,
        env=environment(SQLITE_PATH=str(tmp / "movies.sqlite3"), **env),
    )
    run.wait_for(r"^serving;", START_SECONDS)
    return run, port, s3_port


def wait_until_up(base: str, timeout: float = START_SECONDS) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(f"{base}/health", timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# --- make run --------------------------------------------------------------------------------------


class Served:
    def __init__(self, run: Run, port: int, s3_port: int, state: Path) -> None:
        self.run, self.port, self.s3_port, self.state = run, port, s3_port, state
        self.root = f"http://127.0.0.1:{port}"
        self.base = self.root + API


@pytest.fixture(scope="module")
def served(venv_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state = tmp_path_factory.mktemp("make-run")
    run, port, s3_port = start_run(state)
    try:
        yield Served(run, port, s3_port, state)
    finally:
        run.stop()
        run.kill()


def test_the_banner_gives_the_api_base_and_a_first_curl_that_works(served: Served) -> None:
    run = served.run
    assert run.wait_for(r"^  API +(\S+)$", 1).group(1) == served.base
    url = run.wait_for(r"^  curl -s (\S+/health)$", 1).group(1)
    assert url == f"{served.base}/health"
    assert requests.get(url, timeout=5).json()["status"] == "ok"
    assert (
        run.wait_for(r"^  R2 stand-in +(\S+)", 1).group(1) == f"http://127.0.0.1:{served.s3_port}"
    )
    run.wait_for(r"Not set: TMDB_API_KEY, NZBGEEK_API_KEY, NNTP_SERVERS", 1)
    run.wait_for(r"^serving; no auto-reload \(RELOAD=1 make run", 1)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/", 404, "NOT_FOUND"),
        ("GET", "/health", 404, "NOT_FOUND"),
        ("GET", f"{API}/nothing-here?api_key=not-echoed", 404, "NOT_FOUND"),
        ("OPTIONS", f"{API}/nothing-here", 404, "NOT_FOUND"),
        ("POST", f"{API}/health", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", f"{API}/jobs", 405, "METHOD_NOT_ALLOWED"),
        ("PROPFIND", f"{API}/movies/550", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_unknown_paths_and_wrong_methods_answer_in_the_contract_shape(
    served: Served, method: str, path: str, status: int, code: str
) -> None:
    url = served.root + path
    response = requests.request(method, url, timeout=5)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert "not-echoed" not in body["error"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if status == 404:
        assert f"every path of this API starts with {API}/" in body["error"]
    else:
        assert response.headers["Allow"] in body["error"]
    check_contract(method, url, response)


def test_a_store_write_restarts_nothing_and_idling_costs_no_cpu(served: Served) -> None:
    run = served.run
    pid = run.python("scripts.run_local")
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    connection.request("GET", f"{API}/health")
    assert connection.getresponse().read()
    opened = connection.sock
    # The first job-store request creates the SQLite file and its schema: chalice local's reloader
    # restarted on exactly this. Then some more writes to the state folder, as jobs would make.
    connection.request("GET", f"{API}/jobs")
    assert json.loads(connection.getresponse().read())["total"] == 0
    assert (served.state / "movies.sqlite3").exists()
    for n in range(3):
        (served.state / f"job_{n}.log").write_text("progress\n" * 100)
        time.sleep(0.2)
    before = cpu_seconds(pid)
    time.sleep(2.0)  # chalice local's stat reloader polls every second
    idle = cpu_seconds(pid) - before
    connection.request("GET", f"{API}/health")
    assert json.loads(connection.getresponse().read())["status"] == "ok"
    assert connection.sock is opened, "the keep-alive connection was dropped"
    connection.close()
    assert run.python("scripts.run_local") == pid
    assert "estarting" not in run.output
    assert idle < 0.3, f"{idle:.2f} s of CPU in 2 s idle"


@pytest.mark.parametrize("variable", ["PORT", "S3_PORT"])
def test_a_port_in_use_ends_the_run_at_once_naming_the_variable(
    served: Served, tmp_path: Path, variable: str
) -> None:
    taken = served.port if variable == "PORT" else served.s3_port
    ports = {"PORT": free_port(), "S3_PORT": free_port(), variable: taken}
    run = Run(
        "run",
        *(f"{name}={value}" for name, value in ports.items()),
        env=environment(SQLITE_PATH=str(tmp_path / "movies.sqlite3")),
    )
    try:
        returncode = run.process.wait(timeout=PORT_IN_USE_SECONDS)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"still running after {PORT_IN_USE_SECONDS} s; output:\n{run.output}")
    run.wait_for(r"Error 2", 5)  # make's own line; the reader has everything
    assert returncode != 0
    ours = [line for line in run.lines if not line.startswith((".venv/", "make: ***"))]
    assert len(ours) == 1, run.output
    assert ours[0].startswith(f"make run: port {taken} (")
    assert f"pick another with {variable}=<port>" in ours[0]
    assert "Traceback" not in run.output
    assert not run.left()
    # The running server was not disturbed.
    assert requests.get(f"{served.base}/health", timeout=5).status_code == 200


@pytest.mark.parametrize("target", ["make", "python"])
def test_sigterm_stops_everything_make_run_started(
    venv_ready: None, tmp_path: Path, target: str
) -> None:
    run, port, _ = start_run(tmp_path)
    try:
        pid = run.python("scripts.run_local") if target == "python" else run.process.pid
        assert len(run.left()) >= 2  # make and the Python process, at least
        seconds = run.stop(pid)
        assert not run.left(), f"still running {seconds:.1f} s after SIGTERM: {run.left()}"
        assert run.process.poll() is not None
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}{API}/health", timeout=2)
    finally:
        run.kill()


def test_reload_restarts_on_code_changes_never_on_state(venv_ready: None, tmp_path: Path) -> None:
    run, port, _ = start_run(tmp_path, "RELOAD=1")
    base = f"http://127.0.0.1:{port}{API}"
    app = ROOT / "app.py"
    mtime = app.stat()
    probe = ROOT / ".data" / f"reload-probe-{os.getpid()}.tmp"
    try:
        run.wait_for(r"^serving; restarts the API when app\.py, chalicelib/", 1)
        assert wait_until_up(base).json()["status"] == "ok"
        child = run.python("--api-fd")
        assert requests.get(f"{base}/jobs", timeout=5).json()["total"] == 0  # a store write
        probe.parent.mkdir(exist_ok=True)
        probe.write_text("state")  # .data/ is never watched
        time.sleep(1.5)  # three of the reloader's polls
        assert run.python("--api-fd") == child
        assert "restarting" not in run.output
        os.utime(app, ns=(mtime.st_atime_ns, time.time_ns()))
        run.wait_for(r"^make run: app\.py changed, restarting the API$", 10)
        # The old API finishes what it serves before it exits; the new one then takes the socket.
        deadline = time.monotonic() + 15
        while run.find("--api-fd") in (child, None) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.python("--api-fd") != child
        assert wait_until_up(base).json()["status"] == "ok"
        seconds = run.stop()
        assert not run.left(), f"still running {seconds:.1f} s after SIGTERM: {run.left()}"
    finally:
        os.utime(app, ns=(mtime.st_atime_ns, mtime.st_mtime_ns))
        probe.unlink(missing_ok=True)
        run.kill()


# --- make demo -------------------------------------------------------------------------------------

needs_tools = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)


class Demo(Served):
    pass


def start_demo(state: Path, *args: str) -> tuple[Run, int, int]:
    port, s3_port = free_port(), free_port()
    demo_args = " ".join(["--seconds 2", f"--state {state}", *args])
    run = Run(
        "demo", f"PORT={port}", f"S3_PORT={s3_port}", f"DEMO_ARGS={demo_args}", env=environment()
    )
    return run, port, s3_port


@pytest.fixture(scope="module")
def demo(venv_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    state = tmp_path_factory.mktemp("make-demo") / "state"
    run, port, s3_port = start_demo(state, "--walkthrough")
    try:
        run.wait_for(r"^  API +http", START_SECONDS)
        yield Demo(run, port, s3_port, state)
    finally:
        run.stop()
        run.kill()


@needs_tools
def test_the_demo_keeps_serving_after_the_walkthrough_and_says_so(demo: Demo) -> None:
    run = demo.run
    assert run.wait_for(r"^  API +(\S+)$", 1).group(1) == demo.base
    pid = run.python("sandbox")
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    connection.request("GET", f"{API}/health")
    assert connection.getresponse().read()
    opened = connection.sock
    run.wait_for(r"^walkthrough: .* then keeps serving \(--exit stops it\)$", 5)
    run.wait_for(r"^walkthrough done; still serving$", WALKTHROUGH_SECONDS)
    run.wait_for(r"^serving; Ctrl-C stops everything$", 5)
    # Still serving, in the same process, on the same connection, through all the walkthrough's
    # store writes, downloads and uploads.
    connection.request("GET", f"{API}/jobs?status=ready")
    jobs = json.loads(connection.getresponse().read())["jobs"]
    assert [job["movie_id"] for job in jobs] == [550]
    assert connection.sock is opened
    connection.close()
    assert run.python("sandbox") == pid
    assert "estarting" not in run.output + (demo.state / "api.log").read_text()
    response = requests.get(demo.root + "/", timeout=5)
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
    check_contract("GET", demo.root + "/", response)


@needs_tools
def test_a_demo_on_a_taken_port_ends_at_once_and_leaves_the_running_demos_state(
    demo: Demo,
) -> None:
    marker = demo.state / "api.log"
    run = Run(
        "demo",
        f"PORT={demo.port}",
        f"S3_PORT={free_port()}",
        f"DEMO_ARGS=--state {demo.state}",
        env=environment(),
    )
    try:
        returncode = run.process.wait(timeout=PORT_IN_USE_SECONDS)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"still running after {PORT_IN_USE_SECONDS} s; output:\n{run.output}")
    run.wait_for(r"Error 2", 5)
    assert returncode != 0
    ours = [line for line in run.lines if not line.startswith((".venv/", "make: ***"))]
    assert len(ours) == 1, run.output
    assert ours[0].startswith(f"make demo: port {demo.port} (API) is already in use; "), ours[0]
    assert "pick another with PORT=<port>" in ours[0]
    assert marker.exists(), "the running demo's state was wiped"
    assert requests.get(f"{demo.base}/health", timeout=5).status_code == 200


@needs_tools
def test_sigterm_to_make_stops_the_demo_and_its_downloaders(demo: Demo) -> None:
    """Last of the demo tests: it stops the shared demo."""
    run = demo.run
    run.wait_for(r"^serving; Ctrl-C stops everything$", WALKTHROUGH_SECONDS)
    reply = requests.post(
        f"{demo.base}/movies/238/fetch",
        json={"mode": "auto", "quality_preference": "1080p"},
        timeout=30,
    )
    assert reply.status_code == 202
    deadline = time.monotonic() + 10
    while not any("downloader" in line for line in run.left()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("-m downloader run" in line for line in run.left()), run.left()
    seconds = run.stop()
    assert not run.left(), f"still running {seconds:.1f} s after SIGTERM: {run.left()}"


#: A movie long enough and a line slow enough that the first HLS segments are up well before ready
#: (first playable after about 16 s, ready after 23 s on the 2-core CI machine).
SLOW_DEMO = ("--seconds 40", "--line-rate 0.5")


@needs_tools
def test_exit_stops_the_demo_after_a_walkthrough_that_plays_the_hls_before_ready(
    venv_ready: None, tmp_path: Path
) -> None:
    run, port, _ = start_demo(tmp_path / "state", "--exit", *SLOW_DEMO)
    base = f"http://127.0.0.1:{port}{API}"
    try:
        job_id = run.wait_for(r"^fetch → 202, job (\S+) ", START_SECONDS).group(1)
        hls_url = run.wait_for(r"^  ffplay '(http://\S+)'$", WALKTHROUGH_SECONDS).group(1)
        playlist = requests.get(hls_url, timeout=10)  # as a player: what the walkthrough printed
        status = requests.get(f"{base}/jobs/{job_id}", timeout=10).json()["status"]
        returncode = run.process.wait(timeout=WALKTHROUGH_SECONDS)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"--exit did not stop the demo; output:\n{run.output}")
    assert status in ("downloading", "preparing")  # the playlist above was served before ready
    assert playlist.status_code == 200
    assert playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    segments = [line for line in playlist.text.splitlines() if line.startswith("http")]
    assert segments, playlist.text
    assert "#EXT-X-ENDLIST" not in playlist.text
    assert run.wait_for(r"^  its playlist: 200 .*, (\d+) segments so far", 1).group(1) != "0"
    run.wait_for(r"^walkthrough: .* then stops \(--exit\)$", 5)
    run.wait_for(r"^stream: video/mp4, \d+ bytes; a Range request answers 206", 5)
    times = run.wait_for(r"^first playable after ([\d.]+) s, ready after ([\d.]+) s$", 5)
    assert float(times.group(1)) < float(times.group(2))
    assert returncode == 0, run.output
    assert "still serving" not in run.output
    assert not run.left()


# --- the first make, and CI -------------------------------------------------------------------------


def test_the_first_install_shows_progress(tmp_path: Path) -> None:
    """Read from the recipe (``make -n``): the venv is never installed here."""
    assert MAKE is not None
    venv = tmp_path / "venv"
    result = subprocess.run(
        [MAKE, "-n", f"VENV={venv}", "run"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    pip = next(n for n, line in enumerate(lines) if f"{venv}/bin/pip install" in line)
    said = next(n for n, line in enumerate(lines) if "installing the pinned requirements" in line)
    assert said < pip, "the first line of output comes only after pip"
    assert "1.5-4 minutes" in lines[said]
    assert not re.search(r"\s(--quiet|-q+)\b", lines[pip]), lines[pip]
    assert "scripts.run_local" in lines[-1]


def test_ci_waits_for_the_dpkg_lock(tmp_path: Path) -> None:
    """``.ci/run`` with every system tool missing: its apt calls (a stand-in that records them)
    wait for the lock another apt holds, instead of failing within seconds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "sort", "tr", "cat", "grep", "sed"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    calls = tmp_path / "calls"
    for name in ("apt-get", "make", "python3", "node"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        stub.chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / "run")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = calls.read_text().splitlines()
    apt = [line for line in recorded if line.startswith("apt-get ")]
    assert [line.split()[3] for line in apt] == ["update", "install"], recorded
    for line in apt:
        assert "-o DPkg::Lock::Timeout=" in line, line
        assert int(line.split("DPkg::Lock::Timeout=", 1)[1].split()[0]) >= 300, line
    assert "ffmpeg" in apt[1]
    assert recorded[-1] == "make test"
