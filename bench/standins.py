"""The outside systems of ``bench/ready.py`` and ``bench/first_play.py``, each in a process of its own.

In production the downloader is alone in its Fargate task: the news server and R2 are other
machines. Run in the benchmark's own process, moto's S3 server (threads of Python concatenating
and hashing every part) and the NNTP test server (an asyncio loop throttling and sending every
article) took the same GIL as the pipeline they were serving, so time-to-ready measured three
programs' Python work on one interpreter lock. As separate processes they still share the two cores
(they are still stand-ins), but no longer the lock: what is timed is the downloader.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from multiprocessing.connection import Connection

from bench.news_servers import free_port, wait_for_port
from chalicelib.adapters.objects import ObjectStore
from sandbox.nntp_server import ArticleSource, Knobs, NntpTestServer

BUCKET = "movies-bench"


class LocalR2:
    """moto's S3 server standing in for R2, run as ``python -m moto.server`` (under ``make run`` it
    runs in the API's process and each downloader in its own: never in the downloader's)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._child = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._child.terminate()
        self._child.wait()


def local_r2() -> tuple[LocalR2, ObjectStore]:
    """The S3 stand-in and a store on it (the bucket created)."""
    s3 = LocalR2()
    objects = ObjectStore(
        bucket=BUCKET,
        endpoint_url=s3.url,
        access_key_id="bench",
        secret_access_key="bench-secret",
        create_bucket=True,
    )
    return s3, objects


class ServedRelease:
    """Our NNTP test server over ``articles``, in a forked child process.

    Forked so that the articles (and whatever they have cached) need no serialising; start these
    before anything in the parent runs threads. ``url()`` and ``stop()`` as on NntpTestServer.
    """

    def __init__(self, articles: ArticleSource, knobs: Knobs | None = None) -> None:
        context = multiprocessing.get_context("fork")
        self._control, child_end = context.Pipe()
        self._child = context.Process(
            target=_serve, args=(articles, knobs or Knobs(), child_end), daemon=True
        )
        self._child.start()
        child_end.close()
        self.port = int(self._control.recv())

    def url(self) -> str:
        return f"nntp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._child.is_alive():
            self._control.send("stop")
            self._child.join(timeout=10)
        if self._child.is_alive():
            self._child.kill()
            self._child.join()
        self._control.close()


def _serve(articles: ArticleSource, knobs: Knobs, control: Connection) -> None:
    server = NntpTestServer(articles, knobs).start()
    control.send(server.port)
    try:
        control.recv()  # "stop", or EOFError when the parent is gone
    except EOFError:
        pass
    finally:
        server.stop()
        os._exit(0)  # no atexit handlers inherited from the parent
