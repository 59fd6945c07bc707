"""News server URLs: parsed with defaults, passwords never shown and always scrubbed from logs."""

from __future__ import annotations

import pytest

from chalicelib.logs import current_secrets
from downloader.errors import ServerConfigError
from downloader.usenet.servers import parse_server, parse_servers


def test_a_full_url_is_parsed() -> None:
    server = parse_server("nntps://me:p%40ss@news.example.com:443?connections=20&priority=2")
    assert (server.host, server.port, server.tls) == ("news.example.com", 443, True)
    assert (server.username, server.password) == ("me", "p@ss")
    assert (server.connections, server.priority) == (20, 2)
    assert server.label == "news.example.com:443"
    assert "p@ss" not in repr(server)
    assert "p@ss" in current_secrets()


def test_defaults_and_lists() -> None:
    plain, tls = parse_servers("nntp://a.example, nntps://u:pw@b.example?priority=1")
    assert (plain.port, plain.tls, plain.connections, plain.priority, plain.username) == (
        119,
        False,
        8,
        0,
        None,
    )
    assert (tls.port, tls.tls, tls.priority) == (563, True, 1)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:topsecret@news.example.com", "must start with nntp:// or nntps://"),
        ("nntp://u:topsecret@news.example.com?connections=0", "connections must be 1 to 100"),
        (
            "nntp://u:topsecret@news.example.com?connections=many",
            "connections must be a whole number",
        ),
        ("nntp://u:topsecret@news.example.com?conections=4", "unknown option(s) conections"),
        ("nntp://u:topsecret@news.example.com:99999", "invalid port"),
        ("nntp://", "no host name"),
    ],
)
def test_bad_urls_are_explained_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ServerConfigError) as caught:
        parse_server(url)
    assert message in str(caught.value)
    assert "topsecret" not in str(caught.value)


def test_no_server_at_all_is_an_error() -> None:
    with pytest.raises(ServerConfigError, match="NNTP_SERVERS"):
        parse_servers(" , ")
