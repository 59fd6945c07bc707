"""A release as an indexer lists it: what ranking needs besides the parsed name.

It lives in the domain, not in the Newznab adapter that fills it, so the ranking rules depend on no
HTTP or XML code and any other indexer API could produce the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class IndexerRelease:
    """One search result, with the ``newznab:attr`` values the ranking uses."""

    release_id: str
    title: str
    size_bytes: int | None
    published_at: datetime | None
    grabs: int | None
    categories: tuple[int, ...]
    #: Newznab: 0 none, 1 passworded archive, 2 contains an inner archive; None when not reported.
    password: int | None
