"""News server settings: ``nntp[s]://user:pass@host:port?connections=N&priority=P``.

The same format serves the CLI (``--server``, repeatable) and the task (``NNTP_SERVERS``, comma
separated). Passwords are registered with the log scrubber the moment they are parsed, so no log line
or traceback can carry one, and ``ServerConfig``'s repr and ``label`` never show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from chalicelib.logs import register_secret
from downloader.errors import ServerConfigError

DEFAULT_PORTS = {"nntp": 119, "nntps": 563}
MAX_CONNECTIONS = 100


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    connections: int = 8
    #: Lower is asked first; servers sharing a priority share the work. Backups get a higher number.
    priority: int = 0
    #: A CA bundle to trust instead of the system store (test servers with their own certificate).
    ca_file: str | None = None
    #: Only for tests against a self-signed server whose name is not in its certificate.
    verify_hostname: bool = True

    @property
    def label(self) -> str:
        """How logs and messages name the server: ``host:port``, never the credentials."""
        return f"{self.host}:{self.port}"


def parse_server(url: str) -> ServerConfig:
    """One server from its URL; raises ServerConfigError with a message that never quotes a password."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ServerConfigError("a news server URL has an invalid port") from None
    if parts.password:
        register_secret(unquote(parts.password))
        register_secret(parts.password)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ServerConfigError(
            "a news server URL must start with nntp:// or nntps:// "
            "(e.g. nntps://user:pass@news.example.com:563?connections=8)"
        )
    if not parts.hostname:
        raise ServerConfigError("a news server URL has no host name")
    query = parse_qs(parts.query)
    unknown = set(query) - {"connections", "priority", "ca_file"}
    if unknown:
        raise ServerConfigError(
            f"news server {parts.hostname}: unknown option(s) {', '.join(sorted(unknown))}"
        )
    connections = _int_option(query, "connections", 8, parts.hostname)
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ServerConfigError(
            f"news server {parts.hostname}: connections must be 1 to {MAX_CONNECTIONS}"
        )
    return ServerConfig(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        tls=scheme == "nntps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        connections=connections,
        priority=_int_option(query, "priority", 0, parts.hostname),
        ca_file=query["ca_file"][-1] if "ca_file" in query else None,
    )


def parse_servers(value: str) -> list[ServerConfig]:
    """The comma-separated list of ``NNTP_SERVERS``; at least one server is required."""
    servers = [parse_server(item) for item in value.split(",") if item.strip()]
    if not servers:
        raise ServerConfigError("no news server configured (set NNTP_SERVERS or pass --server)")
    return servers


def _int_option(query: dict[str, list[str]], name: str, default: int, host: str) -> int:
    if name not in query:
        return default
    value = query[name][-1]
    if not value.lstrip("-").isdigit():
        raise ServerConfigError(f"news server {host}: {name} must be a whole number")
    return int(value)
