"""Stopping the tools this process runs (par2, unar/bsdtar, ffmpeg) when the job is taken away.

A long step is one blocking ``subprocess`` call in the main thread. When the heartbeat learns that
the job is no longer ours (cleanup declared it stale, a user's new fetch replaced it), waiting for
that call to end would keep burning a Fargate task for nothing, so the heartbeat ends the call by
ending its process: SIGTERM to every direct child, found in ``/proc`` (the task runs on Linux).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def children(proc: Path = Path("/proc")) -> list[int]:
    """The process ids whose parent is this process (none where there is no ``/proc``)."""
    me = os.getpid()
    found = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (command) state ppid ...": the command may hold spaces and parentheses.
        fields = text.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(me):
            found.append(int(stat.parent.name))
    return sorted(found)


def terminate_children() -> list[int]:
    """SIGTERM every direct child; returns their ids. Never raises."""
    ended = []
    for pid in children():
        try:
            os.kill(pid, signal.SIGTERM)
            ended.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return ended
