"""What can go wrong while downloading a release, as exceptions whose messages a person understands.

The messages end up in a job's ``error_message`` and on the CLI's one-line failure, so they name the
server (never its password) and say what happened and, where it helps, what to do. Nothing here is
mapped to HTTP codes: the downloader is a task, not an API; the job lifecycle turns these into text.
"""

from __future__ import annotations

import re

from chalicelib.domain.jobs import ErrorClass


class DownloadError(Exception):
    """Base of every downloader failure."""


class NzbError(DownloadError):
    """The NZB is unusable: not XML, not an NZB, too big, hostile, or without any file to fetch."""


class IndexerError(DownloadError):
    """The indexer failed or refused the key, so no NZB can be fetched from it now."""


class ServerConfigError(DownloadError):
    """A news server setting (``nntps://user:pass@host:port?connections=N``) is malformed."""


class NntpError(DownloadError):
    """A news server misbehaved or went away; worth trying again on a fresh connection."""


class NntpAuthError(NntpError):
    """The server rejected our credentials (481/482/502 after AUTHINFO); retrying cannot help."""


class NntpUnsupported(NntpError):
    """The server does not do a command (500/501/502 to STAT, say); it may still serve articles."""


class NntpBusyError(NntpError):
    """The server refused another connection (400/502/481 greeting): use fewer, don't hammer it."""


class UploadFailed(Exception):
    """The movie could not be stored in R2 (the job's class is ``storage``); the message says which
    step failed and the storage's error code, never a signed URL."""


#: A server path: any absolute path's folders, so that only the file's own name is left.
_FOLDERS = re.compile(r"(?<![\w.])/(?:[^\s/:'\"()]+/)+")


def without_paths(text: str) -> str:
    """``text`` with every absolute path cut to its file name: job errors name files as the
    release does, never where the worker keeps them (``/tmp/…/jobs/job_…/download/abc.mov``)."""
    return _FOLDERS.sub("", text)


class JobFailed(Exception):
    """The job cannot finish: a message for people (file names only, no server paths) and the
    class the figures count it under (``usenet``, ``password``, ``missing_articles``…)."""

    def __init__(self, message: str, error_class: ErrorClass) -> None:
        message = without_paths(message)
        super().__init__(message)
        self.message = message
        self.error_class = error_class
