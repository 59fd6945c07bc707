"""Availability first: STAT a sample of a release's articles before downloading any of it.

Old or taken-down posts lose articles; downloading 20 GB to find that out wastes the user's time. A
sample spread over every data file, asked of each server in priority order, estimates the missing
share; if it exceeds what the release's par2 recovery data can repair, the next-ranked candidate is
tried instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.logs import logger
from downloader.errors import NntpAuthError, NntpError, NntpUnsupported
from downloader.usenet.nntp import NntpConnection
from downloader.usenet.nzb import Nzb
from downloader.usenet.servers import ServerConfig

SAMPLE = 24
#: How many times larger the second sample is, asked before a release is judged unrepairable.
WIDER = 4


@dataclass(frozen=True)
class Availability:
    sampled: int
    missing: int
    recovery_share: float
    #: Servers that could answer neither STAT nor HEAD, so their share could not be sampled.
    unprobed: tuple[str, ...] = ()

    @property
    def missing_share(self) -> float:
        return self.missing / self.sampled if self.sampled else 0.0

    @property
    def repairable(self) -> bool:
        """False only when the sample shows more missing than par2 could repair by more than one
        sampled article: one article is 1/24 of the sample, so a release 3 % short with 5 %
        recovery data, which repairs fine, would otherwise be skipped whenever two of its missing
        articles happen to be sampled (about one release in six)."""
        return self.missing <= 1 or (self.missing - 1) / self.sampled <= self.recovery_share


def recovery_share(nzb: Nzb) -> float:
    """Recovery data as a share of the data it protects (par2 volumes' bytes / data bytes)."""
    recovery = sum(f.bytes for f in nzb.files if f.is_par2_recovery)
    data = sum(f.bytes for f in nzb.files if not f.is_par2)
    return recovery / data if data else 0.0


def sample_ids(nzb: Nzb, size: int = SAMPLE) -> list[str]:
    """Message-ids spread evenly over the data files' articles (first and last included)."""
    ids = [s.message_id for f in nzb.files if not f.is_par2 for s in f.segments]
    if len(ids) <= size:
        return ids
    step = (len(ids) - 1) / (size - 1)
    return [ids[round(i * step)] for i in range(size)]


def probe(nzb: Nzb, servers: Sequence[ServerConfig], *, timeout: float = 10.0) -> Availability:
    """STAT the sample on each server (by priority) until every article is found or servers run out.

    A server that cannot be reached is skipped; a login failure is raised (it will fail the download
    too, and the user must hear about it). A server that does not do STAT is asked with HEAD (a few
    hundred bytes an article); one that does neither cannot be probed, and then nothing is judged
    missing: the download will tell.

    When the sample says the release cannot be repaired, a larger one (``WIDER`` times as many,
    spread the same way) is asked before the release is skipped: of 24 articles, three missing
    from a release 3 % short happens to about one release in 30, and skipping such a release, which
    its 5 % of recovery data would repair, costs the user the release (or the job). A release that
    is really short stays short in the larger sample, a few seconds of STATs later.
    """
    wanted = sample_ids(nzb)
    unresolved, unprobed = _ask(wanted, servers, timeout)
    share = recovery_share(nzb)
    if unprobed:
        logger.warning(
            "a news server answers neither STAT nor HEAD; availability not sampled there",
            extra={"servers": unprobed},
        )
        return Availability(len(wanted), 0, share, tuple(unprobed))
    found = Availability(len(wanted), len(unresolved), share)
    if found.repairable:
        return found
    asked = set(wanted)
    more = [mid for mid in sample_ids(nzb, SAMPLE * WIDER) if mid not in asked]
    lacking, _ = _ask(more, servers, timeout)
    return Availability(len(wanted) + len(more), len(unresolved) + len(lacking), share)


def _ask(
    wanted: list[str], servers: Sequence[ServerConfig], timeout: float
) -> tuple[list[str], list[str]]:
    """(the ids no server has, the servers that could not be asked at all)."""
    unresolved = list(wanted)
    unprobed: list[str] = []
    for server in sorted(servers, key=lambda s: s.priority):
        if not unresolved:
            break
        connection = NntpConnection(server, timeout=timeout)
        try:
            connection.connect()
            unresolved = _lacking(connection, unresolved)
        except NntpUnsupported:
            unprobed.append(server.label)
        except NntpAuthError:
            raise
        except NntpError:
            continue
        finally:
            connection.close()
    return unresolved, unprobed


def _lacking(connection: NntpConnection, message_ids: list[str]) -> list[str]:
    """The ids the server lacks: by STAT, or by HEAD when it does not do STAT."""
    try:
        return [mid for mid in message_ids if not connection.stat(mid)]
    except NntpUnsupported:
        where = {"server": connection.server.label}
        logger.info("news server does not do STAT; sampling with HEAD", extra=where)
        return [mid for mid in message_ids if not connection.head(mid)]
