"""Sending job events to ``notify_url``s: resolve, check every address, connect to the checked one.

Connecting to the address that was checked (not resolving the name a second time, as an HTTP library
would) closes the gap DNS rebinding uses: a name that answered with a public address for the check
cannot send the connection to 169.254.169.254 a moment later. TLS still verifies the certificate
against the host name. Redirects are never followed (``http.client`` does not follow them); a 3xx is
a failed delivery like any other non-2xx.

Delivery runs on background threads with a few retries and back-off, so a slow or dead receiver
never delays a job: the job's state is written first, and the downloader only waits (bounded) for
pending deliveries before its process exits.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable

from chalicelib.domain.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    NotifyPolicy,
    RefusedUrl,
    Target,
    address_allowed,
    check_url,
    sign,
)
from chalicelib.logs import logger

#: Waits before the 2nd, 3rd and 4th attempt (about 20 s in all).
RETRY_DELAYS = (1.0, 4.0, 15.0)
TIMEOUT_SECONDS = 5.0

Resolve = Callable[[str, int], list[str]]
Sleep = Callable[[float], None]


def resolve(host: str, port: int) -> list[str]:
    """Every address the name has now (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class DeliveryFailed(Exception):
    """One attempt failed; ``retry`` says whether another attempt could succeed."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class Notifier:
    def __init__(
        self,
        secret: str,
        policy: NotifyPolicy,
        *,
        resolver: Resolve = resolve,
        sleep: Sleep = time.sleep,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        timeout: float = TIMEOUT_SECONDS,
        ca_file: str | None = None,
    ) -> None:
        self._secret = secret
        self._policy = policy
        self._resolve = resolver
        self._sleep = sleep
        self._retry_delays = retry_delays
        self._timeout = timeout
        self._ca_file = ca_file
        self._pending: list[threading.Thread] = []

    def send_later(self, url: str, body: bytes, timestamp: int, keys: dict[str, object]) -> None:
        """Deliver on a background thread (with retries); ``wait`` before the process exits."""
        thread = threading.Thread(
            target=self.deliver, args=(url, body, timestamp, keys), name="notify", daemon=True
        )
        self._pending.append(thread)
        thread.start()

    def wait(self, timeout: float) -> bool:
        """Give pending deliveries up to ``timeout`` seconds in all; True if every one finished."""
        deadline = time.monotonic() + timeout
        for thread in self._pending:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._pending)

    def deliver(self, url: str, body: bytes, timestamp: int, keys: dict[str, object]) -> bool:
        """Every attempt, in this thread; True once the receiver answered 2xx. Never raises."""
        for attempt, delay in enumerate((*self._retry_delays, None), start=1):
            try:
                status = self._attempt(url, body, timestamp)
            except DeliveryFailed as failure:
                last = delay is None or not failure.retry
                logger.warning(
                    "notification not delivered" + ("" if last else "; retrying"),
                    extra={**keys, "attempt": attempt, "reason": str(failure)},
                )
                if last:
                    return False
                self._sleep(delay or 0.0)
                continue
            logger.info("notification delivered", extra={**keys, "status": status})
            return True
        return False

    def _attempt(self, url: str, body: bytes, timestamp: int) -> int:
        try:
            target = check_url(url, self._policy)
        except RefusedUrl as error:
            raise DeliveryFailed(str(error), retry=False) from None
        try:
            addresses = self._resolve(target.host, target.port)
        except OSError as error:
            raise DeliveryFailed(f"cannot resolve the host: {error}", retry=True) from None
        refused = [address for address in addresses if not address_allowed(address, self._policy)]
        if refused or not addresses:
            raise DeliveryFailed("the host resolves to a private or local address", retry=False)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "movies-on-demand-notify/1",
            SIGNATURE_HEADER: sign(body, timestamp, self._secret),
            TIMESTAMP_HEADER: str(timestamp),
        }
        try:
            connection = self._connection(target, addresses[0])
            try:
                connection.request("POST", target.path, body=body, headers=headers)
                status = connection.getresponse().status
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}", retry=True) from None
        if 200 <= status < 300:
            return status
        # 3xx is not followed; 4xx will not change on a retry (but 408/429 may).
        raise DeliveryFailed(
            f"the receiver answered {status}", retry=status >= 500 or status in (408, 429)
        )

    def _connection(self, target: Target, address: str) -> http.client.HTTPConnection:
        if target.scheme == "https":
            context = ssl.create_default_context(cafile=self._ca_file)
            return _PinnedHTTPS(target.host, target.port, address, self._timeout, context)
        return _PinnedHTTP(target.host, target.port, address, self._timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    """Talks to ``host`` (Host header) at the already checked ``address``."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked ``address``, the certificate verified against ``host``."""

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
