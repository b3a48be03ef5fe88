"""Two hosts on one PostgreSQL and one Redis behave as one server.

Two real gunicorn servers (each its own master, worker and model, as two machines would run
`make run`) share a real PostgreSQL + pgvector (the pgserver wheel) and a real redis-server.
What one writes the other reads and finds at once; quotas stay exact across them; writers on
both lose nothing and store a duplicate once; each webhook event is delivered once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import headers
from memory_server.api_keys import KeyStore
from memory_server.storage.postgres.database import PostgresDatabase
from receiver import Receiver
from redis_server import RedisServer
from server import GunicornServer, request

pytestmark = [pytest.mark.server, pytest.mark.postgres]


@pytest.fixture(scope="module")
def hosts(postgres_server, tmp_path_factory):
    """Hosts A and B on one database and one Redis, and a key per tier (made beforehand)."""
    url = postgres_server.new_database()
    db = PostgresDatabase(url)
    db.migrate()
    store = KeyStore(db)
    keys = {tier: store.create(tier).plaintext for tier in ("free", "enterprise")}
    db.close()
    tmp = tmp_path_factory.mktemp("hosts")
    with RedisServer() as redis:
        env = {
            "MEMORY_API_RATELIMIT_STORAGE": redis.url,
            "MEMORY_API_WORKERS": "1",
            "MEMORY_API_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "MEMORY_API_WEBHOOK_RETRY_SCHEDULE": "1,1,1",
        }
        a = GunicornServer(url, tmp / "a.log", **env).start(wait=False)
        b = GunicornServer(url, tmp / "b.log", **env).start(wait=False)  # starting together
        try:
            a.wait_ready()
            b.wait_ready()
            yield a, b, keys
        finally:
            a.stop()
            b.stop()


def call(host, key, method, path, body=None, extra=None):
    return request(method, host.url + path, body, {**headers(key), **(extra or {})})


def test_what_one_host_writes_the_other_reads_and_finds_at_once(hosts):
    a, b, keys = hosts
    boss = keys["enterprise"]
    status, created = call(a, boss, "POST", "/api/v1/memory",
                           {"text": "The boat keys hang by the back door"})[::2]  # fmt: skip
    assert status == 201
    status, _, found = call(b, boss, "GET", f"/api/v1/memory/{created['id']}")
    assert status == 200 and found["text"] == "The boat keys hang by the back door"
    for mode in ("semantic", "keyword", "hybrid"):
        _, _, results = call(b, boss, "POST", "/api/v1/memory/search",
                             {"query": "where are the boat keys", "mode": mode})  # fmt: skip
        assert results["results"][0]["id"] == created["id"], mode
    status, _, _ = call(b, boss, "PUT", f"/api/v1/memory/{created['id']}", {"text": "Moved"})
    assert status == 200
    assert call(a, boss, "GET", f"/api/v1/memory/{created['id']}")[2]["text"] == "Moved"


def test_a_quota_is_exact_across_both_hosts(hosts):
    a, b, keys = hosts
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(
                lambda n: call(a if n % 2 else b, keys["free"], "GET", "/v1/memories?per_page=1"),
                range(130),
            )
        )
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 100 and statuses.count(429) == 30


def test_writers_on_both_hosts_lose_nothing_and_store_a_duplicate_once(hosts):
    a, b, keys = hosts
    boss = keys["enterprise"]
    space = {"X-Workspace-ID": "writers"}

    def create(n: int):
        return call(a if n % 2 else b, boss, "POST", "/v1/memories",
                    {"text": f"Field note number {n}"}, space)  # fmt: skip

    def same(n: int):
        return call(a if n % 2 else b, boss, "POST", "/v1/memories",
                    {"text": "Both hosts heard this at once"}, space)  # fmt: skip

    with ThreadPoolExecutor(16) as pool:
        made = list(pool.map(create, range(60)))
        copies = list(pool.map(same, range(12)))
    assert [status for status, _, _ in made] == [201] * 60
    assert sorted(status for status, _, _ in copies) == [200] * 11 + [201]  # one stored
    _, _, page = call(a, boss, "GET", "/v1/memories?per_page=100", extra=space)
    assert page["pagination"]["total"] == 61
    assert len({body["data"]["id"] for _, _, body in copies}) == 1


def test_an_idempotency_key_sent_to_both_hosts_creates_once(hosts):
    a, b, keys = hosts
    boss = keys["enterprise"]
    extra = {"X-Workspace-ID": "retries", "Idempotency-Key": "retry-1"}
    body = {"text": "Sent twice by a client that retried on another host"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda n: call(a if n % 2 else b, boss, "POST", "/v1/memories", body, extra),
                     range(8))
        )  # fmt: skip
    stored = {answer["data"]["id"] for status, _, answer in answers if status == 201}
    assert len(stored) == 1  # the others replay it, or wait their turn (409 in flight)
    assert {status for status, _, _ in answers} <= {201, 409}
    _, _, page = call(b, boss, "GET", "/v1/memories", extra={"X-Workspace-ID": "retries"})
    assert page["pagination"]["total"] == 1


def test_each_webhook_event_is_delivered_once_though_both_hosts_send(hosts):
    a, b, keys = hosts
    boss = keys["enterprise"]
    space = {"X-Workspace-ID": "hooks"}
    with Receiver() as receiver:
        status, _, _ = call(a, boss, "POST", "/api/v1/webhooks",
                            {"url": receiver.url, "events": ["memory.created"]}, space)  # fmt: skip
        assert status == 201
        with ThreadPoolExecutor(8) as pool:
            made = list(
                pool.map(lambda n: call(a if n % 2 else b, boss, "POST", "/v1/memories",
                                        {"text": f"Event source {n}"}, space), range(20))
            )  # fmt: skip
        ids = sorted(body["data"]["id"] for _, _, body in made)
        receiver.wait_for(20, timeout=60)
        time.sleep(2)  # time for a second delivery of any of them, if there were one
        events = receiver.events()
    assert sorted(event["data"]["id"] for event in events) == ids
    assert len({event["id"] for event in events}) == 20  # each event once
