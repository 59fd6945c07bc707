"""Job notifications: which URLs may be called, signing, delivery with retries, nothing private."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.notify import Notifier
from chalicelib.domain.notify import (
    NotifyPolicy,
    RefusedUrl,
    address_allowed,
    check_url,
    job_event,
    sign,
    verify,
)
from chalicelib.settings import Settings
from sandbox.httpd import Reply, Request, StandIn
from tests.servers.tls import make_tls

SECRET = "notify-secret-value-1234"
PUBLIC = NotifyPolicy(frozenset({"hooks.example.com"}))
LOCAL = NotifyPolicy(frozenset(), allow_loopback=True)
BODY = job_event(
    job_id="job_1_abc",
    movie_id=550,
    status="ready",
    error_class=None,
    stream_route="/api/movies-on-demand/movies/job_1_abc/stream",
    timestamp=1_700_000_000,
)


# -- which URLs ------------------------------------------------------------------------------------


def test_an_https_url_on_a_listed_host_is_allowed() -> None:
    target = check_url("https://Hooks.Example.com:8443/in?x=1", PUBLIC)

    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?x=1")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/in", "https"),
        ("https://other.example.com/in", "not in NOTIFY_ALLOWED_HOSTS"),
        ("https://hooks.example.com.evil.test/in", "not in NOTIFY_ALLOWED_HOSTS"),
        ("https://user:pw@hooks.example.com/in", "credentials"),
        ("https://127.0.0.1/in", "not in NOTIFY_ALLOWED_HOSTS"),
        ("http://localhost:8000/in", "https"),
        ("ftp://hooks.example.com/in", "https"),
        ("https:///in", "host"),
        ("https://hooks.example.com/in#x", "fragment"),
        ("https://hooks.example.com/a b", "URL"),
        ("https://hooks.example.com:99999/", "valid"),
        ("https://hooks.example.com/" + "a" * 2000, "at most"),
    ],
)
def test_urls_outside_the_rules_are_refused_saying_why(url: str, reason: str) -> None:
    with pytest.raises(RefusedUrl, match=reason):
        check_url(url, PUBLIC)


@pytest.mark.parametrize(
    "host", ["10.0.0.5", "169.254.169.254", "192.168.1.1", "[::1]", "[fd00::1]"]
)
def test_a_listed_private_address_is_still_refused(host: str) -> None:
    policy = NotifyPolicy(frozenset({host.strip("[]")}))

    with pytest.raises(RefusedUrl, match="private or local"):
        check_url(f"https://{host}/in", policy)


def test_nothing_is_allowed_when_notifications_are_off() -> None:
    with pytest.raises(RefusedUrl, match="not enabled"):
        check_url("https://hooks.example.com/in", NotifyPolicy(frozenset()))


def test_the_local_stage_may_allow_a_loopback_receiver() -> None:
    assert check_url("http://127.0.0.1:8080/hook", LOCAL).port == 8080
    assert check_url("https://localhost/hook", LOCAL).port == 443
    with pytest.raises(RefusedUrl):
        check_url("http://10.0.0.1/hook", LOCAL)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # the cloud metadata service
        ("127.0.0.1", False),
        ("0.0.0.0", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("not-an-ip", False),
    ],
)
def test_only_public_addresses_may_be_connected_to(address: str, allowed: bool) -> None:
    assert address_allowed(address, PUBLIC) is allowed


def test_loopback_needs_the_local_setting_and_the_setting_needs_the_local_stage() -> None:
    assert address_allowed("127.0.0.1", LOCAL)
    assert not address_allowed("10.0.0.1", LOCAL)
    assert Settings.from_environ({"NOTIFY_ALLOW_LOOPBACK": "true"}).notify_policy().allow_loopback
    with pytest.raises(ValueError, match="STAGE=local only"):
        Settings.from_environ({"STAGE": "prod", "NOTIFY_ALLOW_LOOPBACK": "true"})


# -- signing ---------------------------------------------------------------------------------------


def test_the_event_is_signed_over_timestamp_and_body_and_carries_no_secret() -> None:
    signature = sign(BODY, 1_700_000_000, SECRET)

    assert signature.startswith("sha256=")
    assert len(signature) == 7 + 64
    assert verify(BODY, "1700000000", signature, SECRET)
    assert not verify(BODY, "1700000001", signature, SECRET)  # a replay with a fresh timestamp
    assert not verify(BODY.replace(b"ready", b"error"), "1700000000", signature, SECRET)
    assert not verify(BODY, "1700000000", signature, "other-secret")
    event = json.loads(BODY)
    assert event["event_id"] == "job_1_abc.ready"
    assert event["timestamp"] == 1_700_000_000
    assert SECRET not in BODY.decode()


# -- delivery --------------------------------------------------------------------------------------


class Receiver:
    """A loopback receiver answering the given statuses in turn (then 204)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.server = StandIn(self._route, name="receiver")

    def _route(self, request: Request) -> Reply:
        status = self.statuses.pop(0) if self.statuses else 204
        return Reply(status, headers={"Location": "http://169.254.169.254/"})

    @property
    def posts(self) -> list[Request]:
        return self.server.asked("/hook")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([])
    made.server.start()
    yield made
    made.server.stop()


def _notifier(policy: NotifyPolicy = LOCAL, **knobs: object) -> Notifier:
    return Notifier(SECRET, policy, sleep=lambda seconds: None, **knobs)  # type: ignore[arg-type]


def test_a_local_receiver_gets_the_event_with_a_valid_signature(receiver: Receiver) -> None:
    delivered = _notifier().deliver(f"{receiver.server.url}/hook", BODY, 1_700_000_000, {})

    assert delivered
    [post] = receiver.posts
    assert post.method == "POST"
    assert post.body == BODY
    assert post.headers["content-type"] == "application/json"
    assert verify(
        post.body, post.headers["x-signature-timestamp"], post.headers["x-signature"], SECRET
    )


def test_server_errors_are_retried_and_client_errors_are_not(receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    assert _notifier().deliver(f"{receiver.server.url}/hook", BODY, 1, {})
    assert len(receiver.posts) == 3

    receiver.statuses = [404]
    assert not _notifier().deliver(f"{receiver.server.url}/hook", BODY, 1, {})
    assert len(receiver.posts) == 4


def test_redirects_are_never_followed(receiver: Receiver) -> None:
    receiver.statuses = [302]

    assert not _notifier().deliver(f"{receiver.server.url}/hook", BODY, 1, {})
    assert len(receiver.posts) == 1


def test_retries_give_up_after_the_last_attempt(receiver: Receiver) -> None:
    receiver.statuses = [500] * 10

    assert not _notifier(retry_delays=(0.0, 0.0)).deliver(
        f"{receiver.server.url}/hook", BODY, 1, {}
    )
    assert len(receiver.posts) == 3


def test_a_name_resolving_to_a_private_address_at_send_time_is_never_called() -> None:
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34", "10.0.0.7"]

    notifier = _notifier(PUBLIC, resolver=rebinding)

    assert not notifier.deliver("https://hooks.example.com/hook", BODY, 1, {})
    assert asked == ["hooks.example.com"]  # refused once, not retried


def test_delivery_runs_in_the_background(receiver: Receiver) -> None:
    notifier = _notifier()

    notifier.send_later(f"{receiver.server.url}/hook", BODY, 1, {})

    assert notifier.wait(10)
    assert len(receiver.posts) == 1


def test_https_connects_to_the_checked_address_and_verifies_the_name(tmp_path: Path) -> None:
    context, ca_file = make_tls(tmp_path)
    receiver = Receiver([])
    receiver.server._server.socket = context.wrap_socket(
        receiver.server._server.socket, server_side=True
    )
    receiver.server.start()
    try:
        resolved: list[str] = []

        def resolver(host: str, port: int) -> list[str]:
            resolved.append(host)
            return ["127.0.0.1"]

        notifier = _notifier(resolver=resolver, ca_file=str(ca_file))
        url = f"https://localhost:{receiver.server.port}/hook"

        assert notifier.deliver(url, BODY, 1, {})
        assert resolved == ["localhost"]
        assert len(receiver.posts) == 1
    finally:
        receiver.server.stop()
