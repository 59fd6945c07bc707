"""What each Usenet server did for a job: articles fetched, missing and corrupt, bytes, time.

SABnzbd shows per-server figures on its server page; an operator choosing (or dropping) a backup
provider needs the same here. The downloader counts them while it downloads and writes them with the
job when it ends (the ``servers`` column, JSON); ``/stats`` adds up the last 24 hours of them. A server
is named by its ``host:port`` label only, never with its credentials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

#: The outcomes of asking a server for an article, as the ``ServerArticles`` metric names them.
OUTCOMES = ("fetched", "missing", "corrupt")


@dataclass(frozen=True, slots=True)
class ServerFigures:
    #: ``host:port``, as logs name the server (``ServerConfig.label``).
    server: str
    #: Articles this server delivered intact.
    articles_fetched: int = 0
    #: Articles this server said it does not have (430/423); another server may have had them.
    articles_missing: int = 0
    #: Articles this server delivered damaged (CRC or yEnc header mismatch).
    articles_corrupt: int = 0
    #: Bytes of the articles it delivered intact (as the NZB sizes them).
    bytes: int = 0
    #: How long the downloads it took part in ran, in seconds.
    seconds: float = 0.0

    @property
    def throughput_bps(self) -> float:
        """Bytes per second this server delivered over the download's duration (its share of the
        speed when several servers share the work)."""
        return round(self.bytes / self.seconds, 1) if self.seconds > 0 else 0.0

    def articles(self, outcome: str) -> int:
        counts = {
            "fetched": self.articles_fetched,
            "missing": self.articles_missing,
            "corrupt": self.articles_corrupt,
        }
        return counts[outcome]


def encode_servers(figures: Sequence[ServerFigures]) -> str:
    """The ``servers`` column's JSON."""
    return json.dumps([asdict(item) for item in figures], ensure_ascii=False)


def decode_servers(raw: str | None) -> list[ServerFigures]:
    """The column read back; anything unreadable is no figures, never an error."""
    try:
        items = json.loads(raw) if raw else []
        return [ServerFigures(**item) for item in items]
    except (ValueError, TypeError):
        return []
