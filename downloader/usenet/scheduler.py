"""The one place that decides which article goes to which server next.

Every article starts in the queue of the most preferred priority tier (servers sharing a priority share
that queue, so their connections split the work). An article a server lacks (430) or serves corrupt
moves on: to another server of the same tier that has not tried it, else to the next tier (the backup
servers), else it is settled as missing or corrupt for par2 to repair. Transient trouble (a dropped
connection, a timeout) puts it back in front on the same server, a few times at most.

Order: the first article of every file goes first (a file's head says what it is, whatever the
release calls it), then the rest in NZB order, until ``prioritise`` names the files wanted first:
the streaming tail, having read the heads, asks for the movie's volumes in sequence so the bytes it
waits for arrive in the order it reads them (a window of the connections' pipelines ahead of it).

Connections ask with ``take`` and settle with ``done``/``lacks``/``retry``; everything happens under one
condition variable, which is cheap at article granularity (hundreds per second, not millions).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from downloader.usenet.nzb import NzbFile, Segment
from downloader.usenet.servers import ServerConfig


@dataclass(eq=False)
class Article:
    file_index: int
    segment: Segment
    tried: set[int] = field(default_factory=set)
    failures: int = 0
    corrupt: bool = False


@dataclass(eq=False)
class ServerState:
    id: int
    config: ServerConfig
    alive: bool = True
    failure: str | None = None
    #: Connection attempts made (tests assert that bad credentials do not cause a storm).
    attempts: int = 0
    open: int = 0
    #: Lowered when the server says it has too many of our connections.
    limit: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    #: What it answered, for the job's per-server figures: articles delivered intact (and their
    #: bytes), said to be missing (430/423), delivered damaged.
    fetched: int = 0
    fetched_bytes: int = 0
    missing: int = 0
    corrupt: int = 0


@dataclass
class FileTally:
    remaining: int
    missing: list[int] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)


class Scheduler:
    def __init__(
        self, files: Sequence[NzbFile], servers: Sequence[ServerState], *, retries: int = 3
    ) -> None:
        self.servers = list(servers)
        self._retries = retries
        self._cond = threading.Condition()
        self._tiers = sorted({server.config.priority for server in servers})
        self._tier_queue: dict[int, deque[Article]] = {tier: deque() for tier in self._tiers}
        self._own_queue: dict[int, deque[Article]] = {server.id: deque() for server in servers}
        self.tallies: dict[int, FileTally] = {}
        self.finished_files: deque[int] = deque()
        self.outstanding = 0
        self.done_bytes = 0
        self.done_articles = 0
        self.failed_articles = 0
        self.abort_reason: str | None = None
        #: Files given up after their head (``leave``): their result is not the file.
        self.left: set[int] = set()
        first = self._tier_queue[self._tiers[0]]
        rest: list[Article] = []
        for nzb_file in files:
            self.tallies[nzb_file.index] = FileTally(
                len(nzb_file.segments), missing=list(nzb_file.missing_numbers)
            )
            articles = [Article(nzb_file.index, segment) for segment in nzb_file.segments]
            first.extend(articles[:1])
            rest.extend(articles[1:])
            self.outstanding += len(nzb_file.segments)
        first.extend(rest)
        self.total_articles = self.outstanding
        self.total_bytes = sum(nzb_file.bytes for nzb_file in files)

    @property
    def finished(self) -> bool:
        return self.outstanding == 0 or self.abort_reason is not None

    def take(self, server: ServerState, *, block: bool) -> Article | None:
        """The next article for ``server``; None when there is none (now, or ever if finished)."""
        with self._cond:
            while True:
                if self.finished or not server.alive:
                    return None
                own = self._own_queue[server.id]
                if own:
                    return own.popleft()
                tier = self._tier_queue[server.config.priority]
                if tier:
                    return tier.popleft()
                if not block:
                    return None
                self._cond.wait(0.5)

    def prioritise(self, order: Sequence[int]) -> None:
        """Queued articles of the files in ``order`` go first, file by file in that order; every
        other article after them, in the order it had. Articles being retried stay in front."""
        if not order:
            return
        rank = {index: position for position, index in enumerate(order)}
        with self._cond:
            for queue in self._tier_queue.values():
                ordered = sorted(queue, key=lambda article: rank.get(article.file_index, len(rank)))
                queue.clear()
                queue.extend(ordered)

    def leave(self, indices: Sequence[int]) -> int:
        """Fetch no more of these files: their queued articles are dropped (those in flight
        settle as usual). A file with nothing left queued is not left: it is whole, or soon will
        be. Returns the bytes not fetched."""
        with self._cond:
            wanted = set(indices) - self.left
            queues = [*self._tier_queue.values(), *self._own_queue.values()]
            dropped = [a for queue in queues for a in queue if a.file_index in wanted]
            if not dropped:
                return 0
            for queue in queues:
                kept = [a for a in queue if a.file_index not in wanted]
                queue.clear()
                queue.extend(kept)
            for article in dropped:
                self.left.add(article.file_index)
                self.total_bytes -= article.segment.bytes
                self.total_articles -= 1
                self._settle(article)
            return sum(article.segment.bytes for article in dropped)

    def has_work(self, server: ServerState) -> bool:
        with self._cond:
            return bool(self._own_queue[server.id] or self._tier_queue[server.config.priority])

    def wait_idle(self, timeout: float) -> bool:
        """Wait until finished (True) or ``timeout`` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.finished, timeout)

    def done(self, article: Article, server: ServerState) -> None:
        """``server`` delivered the article intact."""
        with self._cond:
            self.done_bytes += article.segment.bytes
            self.done_articles += 1
            server.fetched += 1
            server.fetched_bytes += article.segment.bytes
            self._settle(article)

    def lacks(self, article: Article, server: ServerState, *, corrupt: bool = False) -> None:
        """``server`` does not have the article (430) or served it damaged: try elsewhere."""
        with self._cond:
            if corrupt:
                server.corrupt += 1
            else:
                server.missing += 1
            article.tried.add(server.id)
            article.corrupt = article.corrupt or corrupt
            article.failures = 0
            self._route(article)

    def retry(self, article: Article, server: ServerState) -> None:
        """Transient trouble: ask the same server again (in front), unless it failed too often."""
        with self._cond:
            article.failures += 1
            if article.failures > self._retries or not server.alive:
                article.tried.add(server.id)
                article.failures = 0
                self._route(article)
            else:
                self._own_queue[server.id].appendleft(article)
                self._cond.notify_all()

    def requeue(self, articles: Sequence[Article], server: ServerState) -> None:
        """Give back articles that were never (fully) tried, e.g. queued behind a broken reply."""
        with self._cond:
            for article in reversed(articles):
                if server.alive:
                    self._own_queue[server.id].appendleft(article)
                else:
                    self._route(article)
            self._cond.notify_all()

    def server_failed(self, server: ServerState, reason: str) -> None:
        """Stop using ``server`` and move its work on (to its tier peers or the next tier)."""
        with self._cond:
            if not server.alive:
                return
            server.alive, server.failure = False, reason
            server.ready.set()
            stranded = list(self._own_queue[server.id])
            self._own_queue[server.id].clear()
            tier = server.config.priority
            if not any(s.alive and s.config.priority == tier for s in self.servers):
                stranded += self._tier_queue[tier]
                self._tier_queue[tier].clear()
            for article in stranded:
                article.tried.add(server.id)
                self._route(article)
            self._cond.notify_all()

    def count_open(self, server: ServerState, delta: int, *, attempt: bool = False) -> None:
        with self._cond:
            server.open += delta
            server.attempts += attempt

    def abort(self, reason: str) -> None:
        with self._cond:
            if self.abort_reason is None:
                self.abort_reason = reason
            self._cond.notify_all()

    def _route(self, article: Article) -> None:
        candidates = [s for s in self.servers if s.alive and s.id not in article.tried]
        if not candidates:
            self.failed_articles += 1
            tally = self.tallies[article.file_index]
            numbers = tally.corrupt if article.corrupt else tally.missing
            numbers.append(article.segment.number)
            self._settle(article)
            return
        tier = min(s.config.priority for s in candidates)
        peers = [s for s in self.servers if s.config.priority == tier]
        if any(s.id in article.tried for s in peers):
            target = next(s for s in candidates if s.config.priority == tier)
            self._own_queue[target.id].append(article)
        else:
            self._tier_queue[tier].append(article)
        self._cond.notify_all()

    def _settle(self, article: Article) -> None:
        self.outstanding -= 1
        tally = self.tallies[article.file_index]
        tally.remaining -= 1
        if tally.remaining == 0:
            self.finished_files.append(article.file_index)
        self._cond.notify_all()
