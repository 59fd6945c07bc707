"""The D1 gateway Worker running under miniflare (real workerd, real D1), as a child process.

Used by the tests (the job store's third backend), ``make run JOB_STORE=d1-local`` and the capacity
bench. It writes the allow-list ``make package`` would ship, starts ``infra/d1-gateway/dev.mjs`` on a
free loopback port and waits for its ready line. The token travels in the child's environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from chalicelib.adapters.store.allowlist import write_allowlist

ROOT = Path(__file__).resolve().parent.parent
DEV_SCRIPT = ROOT / "infra" / "d1-gateway" / "dev.mjs"
MINIFLARE = ROOT / "node_modules" / "miniflare" / "package.json"
#: The executor appends /accounts/{account}/d1/database/{database}/query, like the REST API's base.
API_PREFIX = "/client/v4"
READY_SECONDS = 60.0


def miniflare_missing() -> str | None:
    """Why the gateway cannot run here (None when it can): node or the npm packages are missing."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if not MINIFLARE.exists():
        return "miniflare is not installed (run `npm ci` at the repository root)"
    return None


class LocalGateway:
    def __init__(
        self,
        token: str,
        *,
        port: int = 0,
        persist: Path | None = None,
        admin: bool = False,
    ) -> None:
        self._token = token
        self._port = port
        self._persist = persist
        self._admin = admin
        self._process: subprocess.Popen[str] | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="d1-gateway-"))
        self.url = ""
        self.admin_url: str | None = None

    @property
    def base_url(self) -> str:
        """``CF_API_BASE_URL`` for the job store's D1 executor."""
        return self.url + API_PREFIX

    def start(self) -> LocalGateway:
        missing = miniflare_missing()
        if missing:
            raise RuntimeError(f"the local D1 gateway cannot start: {missing}")
        allowlist = self._workdir / "allowlist.json"
        write_allowlist(allowlist)
        command = [
            "node",
            str(DEV_SCRIPT),
            "--allowlist",
            str(allowlist),
            "--port",
            str(self._port),
        ]
        if self._persist is not None:
            self._persist.mkdir(parents=True, exist_ok=True)
            command += ["--persist", str(self._persist)]
        if self._admin:
            command += ["--admin-port", "0"]
        self._process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "GATEWAY_TOKEN": self._token},
            stdout=subprocess.PIPE,
            stderr=(self._workdir / "miniflare.log").open("w"),
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # dev.mjs prints one line when ready, or exits
        if not line:
            self.stop()
            log = (self._workdir / "miniflare.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"miniflare did not start:\n{log}")
        ready = json.loads(line)
        self.url, self.admin_url = ready["url"], ready["admin"]
        return self

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Any SQL, straight on the database (for assertions; needs ``admin=True``)."""
        rows: list[dict[str, Any]] = self._admin_call("/query", {"sql": sql, "params": params})[
            "results"
        ]
        return rows

    def reset(self) -> None:
        """An empty database with the schema applied (a fresh store for each test)."""
        self._admin_call("/reset", {})

    def _admin_call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.admin_url is None:
            raise RuntimeError("the gateway was started without admin=True")
        request = urllib.request.Request(
            self.admin_url + path, data=json.dumps(payload).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
