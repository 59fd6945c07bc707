"""Job notifications: which ``notify_url``s may be called, and the signed event sent to them.

A ``notify_url`` is a request to make our servers call an address a client chose, the classic way
into a private network (SSRF). So the rules are narrow: ``https`` only, to a host the deployment
lists in ``NOTIFY_ALLOWED_HOSTS``, no credentials in the URL, and never to a private, loopback,
link-local or otherwise non-public address. The host is checked when the fetch is asked for and its
addresses again when the event is sent (DNS may answer differently by then). The local stage alone
may allow a loopback receiver (``NOTIFY_ALLOW_LOOPBACK``), so the sandbox and tests can run one.

Pure logic: no sockets here; the sender (``chalicelib/adapters/notify.py``) resolves and connects.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"


class RefusedUrl(ValueError):
    """A ``notify_url`` the rules refuse; the message says which rule, for the 400."""


@dataclass(frozen=True)
class NotifyPolicy:
    """``NOTIFY_ALLOWED_HOSTS`` (lower case) and whether a loopback receiver is allowed."""

    allowed_hosts: frozenset[str]
    allow_loopback: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.allowed_hosts) or self.allow_loopback


@dataclass(frozen=True)
class Target:
    """A checked URL taken apart: where to connect and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    url: str


def check_url(url: str, policy: NotifyPolicy) -> Target:
    """The URL as a ``Target`` if the policy allows calling it, else ``RefusedUrl`` saying why."""
    if not policy.enabled:
        raise RefusedUrl("notifications are not enabled on this deployment (NOTIFY_ALLOWED_HOSTS)")
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise RefusedUrl(f"notify_url must be a URL of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedUrl("notify_url is not a valid URL") from None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise RefusedUrl("notify_url needs a host")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("notify_url must not carry credentials")
    if parts.fragment:
        raise RefusedUrl("notify_url must not have a fragment")
    loopback = policy.allow_loopback and _is_loopback_name(host)
    if parts.scheme != "https" and not (loopback and parts.scheme == "http"):
        raise RefusedUrl("notify_url must be an https URL")
    if not loopback:
        if host not in policy.allowed_hosts:
            raise RefusedUrl(f"notify_url's host {host} is not in NOTIFY_ALLOWED_HOSTS")
        literal = _ip(host)
        if literal is not None and not address_allowed(host, policy):
            raise RefusedUrl("notify_url must not point at a private or local address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default_port, path, url)


def address_allowed(address: str, policy: NotifyPolicy) -> bool:
    """A resolved address we may connect to: public unicast, or loopback where the policy says so."""
    ip = _ip(address)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return policy.allow_loopback
    return ip.is_global and not ip.is_multicast


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    ip = _ip(host)
    return host in LOOPBACK_NAMES or (ip is not None and ip.is_loopback)


def parse_allowed_hosts(raw: str) -> frozenset[str]:
    """``NOTIFY_ALLOWED_HOSTS``: comma-separated host names, compared case-insensitively."""
    return frozenset(part.strip().lower().rstrip(".") for part in raw.split(",") if part.strip())


# -- the event ------------------------------------------------------------------------------------

#: Where the receiver asks for the movie's stream (the contract's route), named in every event.
STREAM_ROUTE = "/api/movies-on-demand/movies/{job_id}/stream"


def settled_event(
    *, job_id: str, movie_id: int, failed: bool, error_class: str | None, timestamp: int
) -> bytes:
    """The event of a job that is ready (``failed`` False) or failed with ``error_class``."""
    return job_event(
        job_id=job_id,
        movie_id=movie_id,
        status="failed" if failed else "ready",
        error_class=error_class if failed else None,
        stream_route=STREAM_ROUTE.format(job_id=job_id),
        timestamp=timestamp,
    )


def job_event(
    *,
    job_id: str,
    movie_id: int,
    status: str,
    error_class: str | None,
    stream_route: str,
    timestamp: int,
) -> bytes:
    """The JSON body POSTed when a job settles. ``event_id`` is the same for every retry, so a
    receiver can drop a repeat; ``timestamp`` (Unix seconds, also signed) lets it refuse replays."""
    return json.dumps(
        {
            "event": f"job.{status}",
            "event_id": f"{job_id}.{status}",
            "job_id": job_id,
            "movie_id": movie_id,
            "status": status,
            "error_class": error_class,
            "stream_route": stream_route,
            "timestamp": timestamp,
        },
        separators=(",", ":"),
    ).encode()


def sign(body: bytes, timestamp: int, secret: str) -> str:
    """``X-Signature``: ``sha256=`` + HMAC-SHA256 of ``"<timestamp>.<body>"`` with ``NOTIFY_SECRET``.

    The timestamp (``X-Signature-Timestamp``, and in the body) is signed with it, so an old event
    cannot be replayed with a fresh timestamp.
    """
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(body: bytes, timestamp: str, signature: str, secret: str) -> bool:
    """What a receiver does (the sandbox's receiver and the tests use it): constant-time compare."""
    try:
        expected = sign(body, int(timestamp), secret)
    except ValueError:
        return False
    return hmac.compare_digest(expected, signature)
