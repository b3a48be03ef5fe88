"""Webhooks in-process: registration, safety, signed payloads, retries, 410, the delivery log.

Deliveries go to a real HTTP receiver on a loopback port; the dispatcher runs as in gunicorn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from helpers import headers
from memory_server.storage import database, migrations
from memory_server.storage.database import Database
from memory_server.storage.open_database import open_database
from memory_server.webhooks import urls as webhook_urls
from memory_server.webhooks.delivery import WebhookDispatcher
from memory_server.webhooks.outbox import Outbox
from memory_server.webhooks.urls import (
    NetworkPolicy,
    RefusedURL,
    check_url,
    is_this_host,
    parse_networks,
)
from receiver import Receiver, TricklingReceiver

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
ALL_EVENTS = [
    "memory.created", "memory.updated", "memory.deleted", "memory.expired", "embedding.generated"
]  # fmt: skip


def verify(secret: str, request: dict) -> bool:
    """A receiver's check, written from the Standard Webhooks spec (not the server's code)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    h = request["headers"]
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.{request['raw']}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, sig.split(",", 1)[1])
        for sig in h["webhook-signature"].split()
        if sig.startswith("v1,")
    )


@pytest.fixture
def hooks_app(database, embedder, make_app):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": database,
            "WEBHOOK_ALLOWED_NETWORKS": LOOPBACK,
            "WEBHOOK_RETRY_SCHEDULE": (0.3, 0.3, 0.3, 0.3),
            "WEBHOOK_TIMEOUT": 1.0,
        }
    )
    services = app.extensions["memory_api"]
    services.memories.prepare()
    services.dispatcher.poll_seconds = 0.1
    services.dispatcher.start()
    yield app
    services.dispatcher.stop()  # then make_app closes the database


@pytest.fixture
def hc(hooks_app):
    return hooks_app.test_client()


@pytest.fixture
def hauth(hooks_app):
    return headers(hooks_app.extensions["memory_api"].keys.create("enterprise").plaintext)


def register(client, auth, url, events=ALL_EVENTS, status=201, **body):
    response = client.post(
        "/api/v1/webhooks", json={"url": url, "events": events, **body}, headers=auth
    )
    assert response.status_code == status, response.json
    return response.json


def log(client, auth, webhook_id):
    response = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=auth)
    assert response.status_code == 200
    return response.json["deliveries"]


def latest_outcome(client, auth, webhook_id):
    attempts = log(client, auth, webhook_id)
    return attempts[0]["outcome"] if attempts else None


def wait_until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_registration_returns_the_secret_once(hc, hauth):
    hook = register(hc, hauth, "http://127.0.0.1:9/hook", description="laptop receiver")
    assert hook["id"].startswith("wh_") and hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"][6:])) == 32
    assert hook["events"] == ALL_EVENTS and hook["enabled"] is True
    assert hook["description"] == "laptop receiver"
    shown = hc.get(f"/api/v1/webhooks/{hook['id']}", headers=hauth).json
    assert "secret" not in shown and shown["url"] == "http://127.0.0.1:9/hook"
    listed = hc.get("/api/v1/webhooks", headers=hauth).json["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]


UNKNOWN_EVENT = "Unknown event; use " + ", ".join(ALL_EVENTS) + "."
MISSING = ["Missing data for required field."]
URL_RULE = (
    "Must be an http(s) URL: a host name, IPv4 or [IPv6] address, an optional port 1-65535,"
    " then printable ASCII without spaces; no user:password@."
)


@pytest.mark.parametrize(
    ("body", "field", "messages"),
    [
        (
            {"url": "http://127.0.0.1:9/", "events": ["memory.exploded"]},
            "events",
            {"0": [UNKNOWN_EVENT]},
        ),
        (
            {"url": "http://127.0.0.1:9/", "events": []},
            "events",
            ["Length must be between 1 and 5."],
        ),
        ({"url": "http://127.0.0.1:9/"}, "events", MISSING),
        ({"events": ["memory.created"]}, "url", MISSING),
        (
            {"url": "http://127.0.0.1:9/", "events": ["memory.created"], "secret": "x"},
            "secret",
            ["Unknown field."],
        ),
    ],
)
def test_invalid_registrations_are_400(hc, hauth, body, field, messages):
    response = hc.post("/api/v1/webhooks", json=body, headers=hauth)
    assert response.status_code == 400, response.json
    assert response.json == {
        "error": "INVALID_REQUEST",
        "message": f"Invalid field: {field}",
        "details": {"fields": {field: messages}},
    }
    assert hc.get("/api/v1/webhooks", headers=hauth).json["webhooks"] == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "http://user:pass@10.0.0.5/hook",
        "http://example.com:99999/hook",
        "http://exa mple.com/hook",
        "HTTP://example.com/hook",
    ],
)
def test_malformed_urls_are_a_clear_400(client, auth, url):
    response = client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["memory.created"]}, headers=auth
    )
    # Refused by the schema (400), never by the network policy (403).
    assert response.status_code == 400, response.json
    assert response.json == {
        "error": "INVALID_REQUEST",
        "message": "Invalid field: url",
        "details": {"fields": {"url": [URL_RULE]}},
    }
    assert client.get("/api/v1/webhooks", headers=auth).json["webhooks"] == []


LOOPBACK_127 = "it carries 127.0.0.1, a loopback address"
# URL -> (what its host resolves to, the blocked range that address is in). Every one is
# refused by the default policy for its range; in the tests' apps, whose destinations are
# loopback (the network rule) and whose allowed ranges are none, only those inside the
# destinations get as far as the range check: the others are refused as outside them.
POLICY_REFUSALS = {
    "http://127.0.0.1:8000/hook": ("127.0.0.1 resolves to 127.0.0.1", "a loopback address"),
    "http://localhost/hook": ("localhost resolves to 127.0.0.1", "a loopback address"),
    "http://[::1]/hook": ("::1 resolves to ::1", "a loopback address"),
    "http://[::ffff:127.0.0.1]/hook": (
        "::ffff:127.0.0.1 resolves to 127.0.0.1",
        "a loopback address",
    ),
    "http://0.0.0.0:8000/hook": ("0.0.0.0 resolves to 0.0.0.0", "an unspecified address"),
    "http://0/hook": ("0 resolves to 0.0.0.0", "an unspecified address"),
    "http://169.254.169.254/latest/meta-data/": (
        "169.254.169.254 resolves to 169.254.169.254",
        "a link-local address",
    ),
    "http://[fe80::1]/hook": ("fe80::1 resolves to fe80::1", "a link-local address"),
    "http://[fd00:ec2::254]/": (
        "fd00:ec2::254 resolves to fd00:ec2::254",
        "a cloud metadata address",
    ),
    "http://100.100.100.200/": (
        "100.100.100.200 resolves to 100.100.100.200",
        "a cloud metadata address",
    ),
    # 127.0.0.1 as a number
    "http://2130706433/hook": ("2130706433 resolves to 127.0.0.1", "a loopback address"),
    # IPv6 forms that carry 127.0.0.1: IPv4-compatible, -translated, NAT64, 6to4, Teredo
    "http://[::127.0.0.1]/hook": ("::127.0.0.1 resolves to ::7f00:1", LOOPBACK_127),
    "http://[::ffff:0:127.0.0.1]/hook": (
        "::ffff:0:127.0.0.1 resolves to ::ffff:0:7f00:1",
        LOOPBACK_127,
    ),
    "http://[64:ff9b::127.0.0.1]/hook": (
        "64:ff9b::127.0.0.1 resolves to 64:ff9b::7f00:1",
        LOOPBACK_127,
    ),
    "http://[2002:7f00:1::1]/hook": ("2002:7f00:1::1 resolves to 2002:7f00:1::1", LOOPBACK_127),
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook": (
        "2001:0:4136:e378:8000:63bf:80ff:fffe resolves to 2001:0:4136:e378:8000:63bf:80ff:fffe",
        LOOPBACK_127,
    ),
    "http://[64:ff9b::169.254.169.254]/": (
        "64:ff9b::169.254.169.254 resolves to 64:ff9b::a9fe:a9fe",
        "it carries 169.254.169.254, a link-local address",
    ),
    # local-use NAT64: where it leads is the network's choice
    "http://[64:ff9b:1::a00:1]/": (
        "64:ff9b:1::a00:1 resolves to 64:ff9b:1::a00:1",
        "a local-use NAT64 address",
    ),
}
POLICY_REFUSED = list(POLICY_REFUSALS)
# Those of them whose address is inside the tests' destinations (127.0.0.0/8 and ::1).
INSIDE_THE_DESTINATIONS = {
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://2130706433/hook",
}
UNLESS_ALLOWED = "which webhooks may not call unless MEMORY_API_WEBHOOK_ALLOWED_NETWORKS allows it"
OUTSIDE = (
    "outside MEMORY_API_WEBHOOK_DESTINATION_NETWORKS, the only networks this server's webhooks"
    " may call"
)


def blocked_range_refusal(url: str) -> str:
    resolved, blocked_range = POLICY_REFUSALS[url]
    return f"{resolved}, {blocked_range}, {UNLESS_ALLOWED}"


@pytest.mark.parametrize("url", POLICY_REFUSED)
def test_well_formed_urls_the_policy_refuses_are_403(client, auth, url):
    # Well formed, so refused by the policy (a documented 403), never by the schema (400).
    response = client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["memory.created"]}, headers=auth
    )
    assert response.status_code == 403, response.json
    if url in INSIDE_THE_DESTINATIONS:
        why = blocked_range_refusal(url)
    else:
        why = f"{POLICY_REFUSALS[url][0]}, {OUTSIDE}"
    assert response.json == {
        "error": "WEBHOOK_URL_NOT_ALLOWED",
        "message": f"Webhook URL not allowed: {why}",
        "details": {"fields": {"url": [why]}},
    }
    assert client.get("/api/v1/webhooks", headers=auth).json["webhooks"] == []


@pytest.mark.parametrize("url", POLICY_REFUSED)
def test_the_default_policy_refuses_this_host_link_local_and_metadata(url):
    with pytest.raises(RefusedURL) as refused:
        check_url(url, NetworkPolicy())
    assert str(refused.value) == blocked_range_refusal(url)


def test_every_address_of_this_host_is_refused_unless_allowed():
    # This host's interfaces as they are now (eth0's address too, not only loopback);
    # checking sends nothing: a UDP socket is bound, never used.
    addresses = [
        ipaddress.ip_address(a.address.split("%")[0])
        for found in psutil.net_if_addrs().values()
        for a in found
        if a.family in (socket.AF_INET, socket.AF_INET6)
    ]
    assert addresses
    for address in addresses:
        host = f"[{address}]" if address.version == 6 else str(address)
        with pytest.raises(RefusedURL):
            check_url(f"http://{host}:8080/hook")
        allowed = NetworkPolicy(allowed=(ipaddress.ip_network(address),))
        assert check_url(f"http://{host}:8080/hook", allowed).addresses
    lan = [a for a in addresses if not a.is_loopback and not a.is_link_local]
    for address in lan:  # refused as this host's own, not for being in some range
        assert is_this_host(address)
    assert not is_this_host(ipaddress.ip_address("192.0.2.254"))  # no host has it here


def test_the_default_policy_allows_private_lan_and_public_addresses():
    # Checked without a server: nothing is registered or sent anywhere.
    for url in ("http://192.168.1.20:8080/hook", "https://10.0.0.7/hook", "http://8.8.8.8/"):
        assert check_url(url, NetworkPolicy()).addresses


def test_destination_networks_are_the_only_ones_webhooks_may_call():
    lan = NetworkPolicy(destinations=parse_networks("192.168.1.0/24"))
    assert check_url("http://192.168.1.20:8080/hook", lan).addresses == ("192.168.1.20",)
    for url in ("http://192.168.2.20/", "http://10.0.0.7/", "http://8.8.8.8/", "http://[fd00::5]/"):
        with pytest.raises(RefusedURL, match="outside MEMORY_API_WEBHOOK_DESTINATION_NETWORKS"):
            check_url(url, lan)
    # A blocked range inside the destinations still needs ALLOWED_NETWORKS.
    local = NetworkPolicy(destinations=LOOPBACK)
    with pytest.raises(RefusedURL, match="loopback"):
        check_url("http://127.0.0.1:9/", local)
    assert check_url("http://127.0.0.1:9/", NetworkPolicy(LOOPBACK, LOOPBACK)).addresses


def assert_refused_as_outside_the_destinations(answer: dict) -> None:
    """A 403 of the policy, in the url field alone, naming the destinations setting."""
    assert answer["error"] == "WEBHOOK_URL_NOT_ALLOWED"
    assert list(answer["details"]) == ["fields"] and list(answer["details"]["fields"]) == ["url"]
    [why] = answer["details"]["fields"]["url"]
    assert answer["message"] == f"Webhook URL not allowed: {why}"
    assert "outside MEMORY_API_WEBHOOK_DESTINATION_NETWORKS" in why


def test_a_url_outside_the_destinations_is_403_and_inside_is_201(hc, hauth):
    # hooks_app: destinations loopback (the tests' environment), loopback allowed.
    response = hc.post(
        "/api/v1/webhooks",
        json={"url": "http://192.168.1.20/hook", "events": ["memory.created"]},
        headers=hauth,
    )
    assert response.status_code == 403, response.json
    assert_refused_as_outside_the_destinations(response.json)
    hook = register(hc, hauth, "http://127.0.0.1:9/hook", events=["memory.created"])
    patched = hc.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"url": "http://10.0.0.7/"}, headers=hauth
    )
    assert patched.status_code == 403, patched.json
    assert_refused_as_outside_the_destinations(patched.json)
    assert hc.get(f"/api/v1/webhooks/{hook['id']}", headers=hauth).json["url"] == (
        "http://127.0.0.1:9/hook"
    )


def test_a_host_dns_cannot_resolve_yet_is_registered_and_retried_at_delivery(hc, hauth):
    # A receiver whose name is not in DNS yet (or a resolver that is down) is not a client
    # mistake: registration takes it, and every delivery resolves and vets the host again.
    hook = register(hc, hauth, "http://no-such-host.invalid/hook", events=["memory.created"])
    assert hook["url"] == "http://no-such-host.invalid/hook"
    hc.post("/api/v1/memory", json={"text": "for a host not in DNS"}, headers=hauth)
    wait_until(lambda: len(log(hc, hauth, hook["id"])) >= 1)
    first = log(hc, hauth, hook["id"])[-1]
    assert first["outcome"] == "retrying" and first["status_code"] is None
    assert "cannot resolve host 'no-such-host.invalid'" in first["error"]


def test_events_arrive_signed_with_the_right_payloads_from_both_surfaces(hc, hauth):
    with Receiver() as receiver:
        hook = register(hc, hauth, receiver.url)
        created = hc.post(
            "/api/v1/memory",
            json={"text": "Meeting notes from Q4 planning", "metadata": {"type": "meeting"}},
            headers={**hauth, "X-Workspace-ID": "default"},
        ).json
        receiver.wait_for(2)
        v1 = hc.post("/v1/memories", json={"text": "from the other surface"}, headers=hauth)
        receiver.wait_for(4)
        hc.put(f"/v1/memories/{created['id']}", json={"text": "Updated notes"}, headers=hauth)
        receiver.wait_for(6)
        hc.put(f"/api/v1/memory/{created['id']}", json={"metadata": {"a": 1}}, headers=hauth)
        receiver.wait_for(7)
        hc.delete(f"/api/v1/memory/{created['id']}", headers=hauth)
        receiver.wait_for(8)  # delivery order is not guaranteed: wait before the next change
        hc.delete("/v1/memories?confirm=true", headers=hauth)
        receiver.wait_for(9)

    assert all(verify(hook["secret"], request) for request in receiver.requests)
    kinds = [(body["type"], body["data"]["id"]) for body in receiver.events()]
    memory_id, other_id = created["id"], v1.json["data"]["id"]
    assert sorted(kinds[0:2]) == [("embedding.generated", memory_id), ("memory.created", memory_id)]
    assert sorted(kinds[2:4]) == [("embedding.generated", other_id), ("memory.created", other_id)]
    assert sorted(kinds[4:6]) == [("embedding.generated", memory_id), ("memory.updated", memory_id)]
    assert kinds[6:] == [
        ("memory.updated", memory_id),
        ("memory.deleted", memory_id),
        ("memory.deleted", other_id),
    ]
    for request in receiver.requests:
        body, sent = request["json"], request["headers"]
        assert set(body) == {"id", "type", "created_at", "workspace_id", "data"}
        assert body["id"].startswith("evt_") and sent["webhook-id"] == body["id"]
        assert abs(int(sent["webhook-timestamp"]) - time.time()) < 60
        assert body["workspace_id"] == "default"
        assert "embedding" not in body["data"]
        assert sent["content-type"] == "application/json"
    first = receiver.events("memory.created")[0]["data"]
    assert first["text"] == "Meeting notes from Q4 planning"
    assert first["metadata"] == {"type": "meeting"}
    assert set(first) == {"id", "text", "metadata", "created_at", "updated_at", "expires_at"}
    generated = receiver.events("embedding.generated")[0]["data"]
    assert generated["vector_dimensions"] == 384 and generated["tokens_used"] > 0
    assert generated["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert receiver.events("memory.deleted")[0]["data"] == {
        "id": memory_id,
        "workspace_id": "default",
    }


@pytest.mark.slow
def test_only_subscribed_events_and_no_event_for_a_refused_write(hc, hauth):
    with Receiver() as receiver:
        register(hc, hauth, receiver.url, events=["memory.deleted"])
        stored = hc.post("/api/v1/memory", json={"id": "one", "text": "t"}, headers=hauth)
        assert stored.status_code == 201
        conflict = hc.post("/api/v1/memory", json={"id": "one", "text": "t"}, headers=hauth)
        assert conflict.status_code == 409
        hc.delete("/api/v1/memory/one", headers=hauth)
        receiver.wait_for(1)
        time.sleep(0.3)
    assert [body["type"] for body in receiver.events()] == ["memory.deleted"]


@pytest.mark.slow
def test_a_client_embedding_fires_no_embedding_generated(hc, hauth):
    with Receiver() as receiver:
        register(hc, hauth, receiver.url)
        hc.post("/api/v1/memory", json={"text": "t", "embedding": [0.1] * 384}, headers=hauth)
        receiver.wait_for(1)
        time.sleep(0.3)
    assert [body["type"] for body in receiver.events()] == ["memory.created"]


@pytest.mark.slow
def test_other_workspaces_and_owners_neither_see_nor_trigger_webhooks(hooks_app, hc, hauth):
    keys = hooks_app.extensions["memory_api"].keys
    with Receiver() as receiver:
        hook = register(hc, hauth, receiver.url)
        other_owner = headers(keys.create("pro", "mallory").plaintext)
        for other in ({**hauth, "X-Workspace-ID": "elsewhere"}, other_owner):
            assert hc.get(f"/api/v1/webhooks/{hook['id']}", headers=other).status_code == 404
            assert hc.get("/api/v1/webhooks", headers=other).json["webhooks"] == []
            assert hc.delete(f"/api/v1/webhooks/{hook['id']}", headers=other).status_code == 404
            hc.post("/api/v1/memory", json={"text": "not yours"}, headers=other)
        time.sleep(0.5)
    assert receiver.events() == []


@pytest.mark.slow
def test_a_receiver_that_is_down_gets_the_event_once_it_is_up(hc, hauth):
    receiver = Receiver()  # not listening yet: connections are refused
    hook = register(hc, hauth, receiver.url, events=["memory.created"])
    hc.post("/api/v1/memory", json={"text": "sent while down"}, headers=hauth)
    wait_until(lambda: len(log(hc, hauth, hook["id"])) >= 1)
    with receiver:
        body = receiver.wait_for(1)[0]
    assert body["data"]["text"] == "sent while down"
    attempts = log(hc, hauth, hook["id"])
    assert attempts[0]["outcome"] == "delivered" and attempts[0]["status_code"] == 200
    failed = attempts[-1]
    assert failed["attempt"] == 1 and failed["outcome"] == "retrying"
    assert failed["status_code"] is None and "Connection" in failed["error"]
    assert failed["next_retry_at"] is not None
    assert {a["event_id"] for a in attempts} == {body["id"]}
    assert [a["attempt"] for a in attempts] == list(range(len(attempts), 0, -1))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("status", "delay", "error"), [(503, 0, "HTTP 503"), (200, 1.5, "timed out")]
)
def test_5xx_and_slow_receivers_are_retried_with_the_same_event_id(hc, hauth, status, delay, error):
    with Receiver(status=status, delay=delay) as receiver:
        hook = register(hc, hauth, receiver.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "retry me"}, headers=hauth)
        receiver.wait_for(2)
        receiver.status, receiver.delay = 200, 0
        wait_until(lambda: latest_outcome(hc, hauth, hook["id"]) == "delivered")
    attempts = log(hc, hauth, hook["id"])
    assert attempts[-1]["error"] == error and attempts[-1]["outcome"] == "retrying"
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert len({r["raw"] for r in receiver.requests}) == 1  # the same body every attempt
    # Each attempt is signed anew over its own timestamp: as many signatures as timestamps.
    signatures = {r["headers"]["webhook-signature"] for r in receiver.requests}
    assert len(signatures) == len({r["headers"]["webhook-timestamp"] for r in receiver.requests})
    assert all(verify(hook["secret"], request) for request in receiver.requests)


@pytest.mark.slow
def test_the_timeout_bounds_the_whole_attempt_and_the_answer_body_is_never_awaited(hc, hauth):
    # The red team's receiver: answers 200, then sends a byte at a time. Before, each read
    # had the timeout to itself and the body was drained: one attempt took 40 s.
    with TricklingReceiver(head=True) as body_only, TricklingReceiver(head=False) as head:
        quick = register(hc, hauth, body_only.url, events=["memory.created"])
        never = register(hc, hauth, head.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "for slow receivers"}, headers=hauth)
        wait_until(lambda: log(hc, hauth, quick["id"]) and log(hc, hauth, never["id"]))
    delivered = log(hc, hauth, quick["id"])[-1]
    assert delivered["outcome"] == "delivered" and delivered["status_code"] == 200
    assert delivered["duration_ms"] < 1000  # the status line is all it waits for
    timed_out = log(hc, hauth, never["id"])[-1]
    assert timed_out["outcome"] == "retrying" and timed_out["error"] == "timed out"
    assert 900 <= timed_out["duration_ms"] < 1500  # MEMORY_API_WEBHOOK_TIMEOUT=1 in all


@pytest.mark.slow
def test_a_slow_endpoint_never_delays_another_endpoints_deliveries(hooks_app, hc, hauth):
    other = headers(hooks_app.extensions["memory_api"].keys.create("pro", "bob").plaintext)
    with TricklingReceiver(head=False) as slow, Receiver() as fast:
        stuck = register(hc, hauth, slow.url, events=["memory.created"])
        register(hc, other, fast.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "to the slow one"}, headers=hauth)
        wait_until(lambda: slow.connections == 1)  # its attempt is under way (1 s)
        for i in range(3):
            hc.post("/api/v1/memory", json={"text": f"to the fast one {i}"}, headers=other)
        fast.wait_for(3, timeout=5)
        # All three arrived while the slow attempt was still waiting for its answer.
        assert log(hc, hauth, stuck["id"]) == []
        wait_until(lambda: log(hc, hauth, stuck["id"]))


def test_an_events_payload_is_stored_once_however_many_endpoints_get_it(hooks_app, hc, hauth):
    services = hooks_app.extensions["memory_api"]
    services.dispatcher.stop()  # only the outbox is looked at here
    for i in range(5):
        register(hc, hauth, f"http://127.0.0.1:9/hook{i}")
    text = "\U0001f600" * 50_000  # 200 KB of UTF-8
    assert hc.post("/api/v1/memory", json={"text": text}, headers=hauth).status_code == 201
    conn = services.db.connection()
    events = conn.execute("SELECT type, payload FROM webhook_events").fetchall()
    sizes = {kind: len(payload.encode()) for kind, payload in events}
    assert set(sizes) == {"memory.created", "embedding.generated"}
    assert all(200_000 < size < 210_000 for size in sizes.values())
    deliveries = conn.execute(
        "SELECT count(DISTINCT endpoint_id), count(*) FROM webhook_deliveries"
    )
    assert tuple(deliveries.fetchone()) == (5, 10)
    columns = conn.execute("SELECT * FROM webhook_deliveries LIMIT 1").fetchone().keys()
    assert "payload" not in columns


@pytest.mark.slow
def test_retries_stop_after_the_schedule_and_the_delivery_fails(hc, hauth):
    with Receiver(status=500) as receiver:
        hook = register(hc, hauth, receiver.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "never accepted"}, headers=hauth)
        wait_until(lambda: latest_outcome(hc, hauth, hook["id"]) == "failed")
        time.sleep(0.7)
    attempts = log(hc, hauth, hook["id"])
    assert len(receiver.requests) == len(attempts) == 5  # first try + 4 retries (the schedule)
    assert attempts[0]["next_retry_at"] is None
    assert all(a["status_code"] == 500 for a in attempts)


@pytest.mark.slow
def test_410_disables_the_endpoint_and_it_can_be_enabled_again(hc, hauth):
    with Receiver(status=410) as receiver:
        hook = register(hc, hauth, receiver.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "first"}, headers=hauth)
        wait_until(
            lambda: not hc.get(f"/api/v1/webhooks/{hook['id']}", headers=hauth).json["enabled"]
        )
        shown = hc.get(f"/api/v1/webhooks/{hook['id']}", headers=hauth).json
        assert "410" in shown["disabled_reason"]
        hc.post("/api/v1/memory", json={"text": "while disabled"}, headers=hauth)
        time.sleep(0.5)
        assert len(receiver.requests) == 1
        receiver.status = 200
        enabled = hc.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=hauth)
        assert enabled.json["enabled"] is True and enabled.json["disabled_reason"] is None
        hc.post("/api/v1/memory", json={"text": "after enabling"}, headers=hauth)
        body = receiver.wait_for(2)[1]
    assert body["data"]["text"] == "after enabling"
    assert log(hc, hauth, hook["id"])[-1]["outcome"] == "failed"


@pytest.mark.slow
def test_redirects_are_not_followed(hc, hauth):
    with Receiver() as target, Receiver(status=302) as redirector:
        redirector.status = 302  # answers with no Location; the target must never be called
        hook = register(hc, hauth, redirector.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "stay here"}, headers=hauth)
        wait_until(lambda: len(log(hc, hauth, hook["id"])) >= 1)
    assert target.requests == []
    assert log(hc, hauth, hook["id"])[-1]["status_code"] == 302


def test_patch_and_delete(hc, hauth):
    hook = register(hc, hauth, "http://127.0.0.1:9/a", events=["memory.created"])
    path = f"/api/v1/webhooks/{hook['id']}"
    changed = hc.patch(
        path,
        json={"events": ["memory.deleted", "memory.deleted"], "url": "http://127.0.0.1:9/b"},
        headers=hauth,
    ).json
    assert changed["events"] == ["memory.deleted"] and changed["url"] == "http://127.0.0.1:9/b"
    assert hc.patch(path, json={"enabled": False}, headers=hauth).json["enabled"] is False
    for body, field in (
        ({}, "_schema"),
        ({"enabled": "yes"}, "enabled"),
        ({"events": ["nope"]}, "events"),
        ({"url": "ftp://x"}, "url"),
    ):
        refused = hc.patch(path, json=body, headers=hauth)
        assert refused.status_code == 400, body
        assert refused.json["error"] == "INVALID_REQUEST"
        assert list(refused.json["details"]["fields"]) == [field], refused.json
    assert hc.delete(path, headers=hauth).json == {"success": True, "deleted_id": hook["id"]}
    assert hc.get(path, headers=hauth).status_code == 404
    assert hc.get(f"{path}/deliveries", headers=hauth).status_code == 404
    assert hc.delete(path, headers=hauth).status_code == 404


@pytest.mark.slow
def test_events_written_while_no_dispatcher_runs_are_delivered_later(hooks_app, hc, hauth):
    services = hooks_app.extensions["memory_api"]
    services.dispatcher.stop()
    with Receiver() as receiver:
        register(hc, hauth, receiver.url, events=["memory.created"])
        for i in range(3):
            hc.post("/api/v1/memory", json={"text": f"queued {i}"}, headers=hauth)
        time.sleep(0.3)
        assert receiver.requests == []
        services.dispatcher.start()
        bodies = receiver.wait_for(3)
    assert sorted(b["data"]["text"] for b in bodies) == ["queued 0", "queued 1", "queued 2"]


@pytest.mark.slow
def test_competing_dispatchers_send_each_event_once(hooks_app, hc, hauth):
    """Two more dispatchers on the same file, as other gunicorn workers would be."""
    services = hooks_app.extensions["memory_api"]
    services.dispatcher.stop()

    others = [
        WebhookDispatcher(
            Outbox(open_database(services.db.location)),
            (0.3,),
            1.0,
            services.dispatcher.policy,
            0.05,
        )
        for _ in range(2)
    ]
    with Receiver() as receiver:
        register(hc, hauth, receiver.url, events=["memory.created"])
        for i in range(40):
            hc.post("/api/v1/memory", json={"text": f"note {i}"}, headers=hauth)
        dispatchers = [services.dispatcher, *others]
        deadline = time.monotonic() + 30
        # Rounds of all three at once, until the outbox is settled (a refused connection
        # is a retry a later round makes).
        while services.webhooks.outbox.next_due() is not None and time.monotonic() < deadline:
            barrier = threading.Barrier(len(dispatchers))
            rounds = [
                threading.Thread(target=lambda d=d, b=barrier: (b.wait(), d.deliver_due()))
                for d in dispatchers
            ]
            for thread in rounds:
                thread.start()
            for thread in rounds:
                thread.join()
            time.sleep(0.1)
        bodies = receiver.wait_for(40)
    assert len(receiver.requests) == 40  # never sent again once accepted
    assert len({b["id"] for b in bodies}) == 40


@pytest.mark.slow
def test_the_documented_receiver_snippet_verifies_real_deliveries(hc, hauth):
    doc = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    snippet = doc.split("A receiver checks them in a few lines of Python:")[1]
    snippet = snippet.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # the doc's code, exactly as a user would paste it
    with Receiver() as receiver:
        hook = register(hc, hauth, receiver.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "check me"}, headers=hauth)
        request = receiver.wait_for(1) and receiver.requests[0]
    body = request["raw"].encode()
    assert namespace["verify"](hook["secret"], request["headers"], body) is True
    assert namespace["verify"](hook["secret"], request["headers"], body + b" ") is False
    other_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert namespace["verify"](other_secret, request["headers"], body) is False


@pytest.mark.sqlite_only  # SQLite's migration 8
def test_migration_8_moves_queued_payloads_into_one_row_per_event(tmp_path, monkeypatch):
    db = Database(tmp_path / "old.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:7])
    db.migrate()
    payload = '{"id":"evt_1","type":"memory.created","data":{"text":"queued"}}'
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO webhook_endpoints (id, owner, workspace, url, events, secret, enabled,"
            " created_at, updated_at) VALUES (?, 'default', 'default', ?, ?, ?, 1, 't', 't')",
            ("wh_1", "http://127.0.0.1:9/a", '["memory.created"]', "whsec_" + "A" * 44),
        )
        conn.execute(
            "INSERT INTO webhook_endpoints (id, owner, workspace, url, events, secret, enabled,"
            " created_at, updated_at) VALUES (?, 'default', 'default', ?, ?, ?, 1, 't', 't')",
            ("wh_2", "http://127.0.0.1:9/b", '["memory.created"]', "whsec_" + "A" * 44),
        )
        for endpoint in ("wh_1", "wh_2"):
            conn.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload,"
                " state, next_attempt_at) VALUES (?, 'evt_1', 'memory.created', ?, 'pending', 0)",
                (endpoint, payload),
            )
    monkeypatch.undo()
    db.migrate()
    conn = db.connection()
    assert [tuple(r) for r in conn.execute("SELECT id, payload FROM webhook_events")] == [
        ("evt_1", payload)
    ]
    claimed = Outbox(db).claim(10, 30)
    assert sorted(c.endpoint_id for c in claimed) == ["wh_1", "wh_2"]
    assert {c.payload for c in claimed} == {payload}
    db.close()


@pytest.mark.slow
def test_the_dispatcher_keeps_going_after_its_outcomes_could_not_be_recorded(
    hooks_app, hc, hauth, monkeypatch
):
    # A mock of one failure (a write lock held past the busy timeout, a full disk): holding
    # the real lock for 10 s would only slow the suite down.
    store = hooks_app.extensions["memory_api"].webhooks.outbox
    real_settle, failures = store.settle, []

    def settle_failing_once(outcomes):
        if not failures:
            failures.append(len(outcomes))
            raise database.DatabaseError("database is locked")
        return real_settle(outcomes)

    monkeypatch.setattr(store, "settle", settle_failing_once)
    with Receiver() as receiver:
        register(hc, hauth, receiver.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "first"}, headers=hauth)
        wait_until(lambda: failures)
        hc.post("/api/v1/memory", json={"text": "second"}, headers=hauth)
        # The unrecorded attempt is sent again once its lease ends; the dispatcher lives on.
        bodies = receiver.wait_for(3, timeout=30)
    assert {b["data"]["text"] for b in bodies} == {"first", "second"}


@pytest.mark.slow
def test_a_resolver_that_never_answers_delays_only_its_own_endpoints(
    hooks_app, hc, hauth, monkeypatch
):
    # A mock of a hanging DNS server (tests resolve no names): lookups of *.slow.test block
    # past the attempt's deadline, as a resolver that never answers does.
    real_resolve = webhook_urls._resolve

    def resolve(host, port):
        if host.endswith(".slow.test"):
            time.sleep(5)
        return real_resolve(host, port)

    keys = hooks_app.extensions["memory_api"].keys
    other = headers(keys.create("pro", "bob").plaintext)
    slow = [register(hc, hauth, f"http://r{i}.slow.test/hook", events=["memory.created"])
            for i in range(8)]  # fmt: skip
    monkeypatch.setattr(webhook_urls, "_resolve", resolve)
    started = time.monotonic()
    register(hc, hauth, "http://one-more.slow.test/hook", events=["memory.deleted"])
    assert time.monotonic() - started < 4  # registration gave up on the resolver after 2 s
    with Receiver() as receiver:
        register(hc, other, receiver.url, events=["memory.created"])
        hc.post("/api/v1/memory", json={"text": "to eight slow names"}, headers=hauth)
        time.sleep(0.3)  # their lookups are under way
        hc.post("/api/v1/memory", json={"text": "to bob"}, headers=other)
        receiver.wait_for(1, timeout=3)  # well before any slow lookup could end
    wait_until(lambda: all(log(hc, hauth, hook["id"]) for hook in slow), timeout=10)
    first = log(hc, hauth, slow[0]["id"])[-1]
    assert first["error"] == "timed out resolving the host"
    assert first["duration_ms"] <= 1000  # MEMORY_API_WEBHOOK_TIMEOUT=1 bounds the lookup too
