"""Webhooks on real gunicorn: a crash mid-backlog loses nothing; 4 workers send each event once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import headers
from memory_server.api_keys import KeyStore
from memory_server.storage.database import Database
from receiver import Receiver
from redis_server import RedisServer
from server import GunicornServer, request

pytestmark = pytest.mark.server

FAST_RETRIES = {
    "MEMORY_API_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "MEMORY_API_WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,1,1,1,2,2,2,5,5",
    "MEMORY_API_WEBHOOK_TIMEOUT": "1",
}


def enterprise_key(db_path) -> str:
    db = Database(db_path)
    db.migrate()
    key = KeyStore(db).create("enterprise").plaintext
    db.close()
    return key


def create_memories(url: str, key: str, count: int) -> list[str]:
    def create(i: int) -> str:
        status, _, body = request(
            "POST", f"{url}/api/v1/memory", {"text": f"note {i}"}, headers(key)
        )
        assert status == 201, body
        return body["id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, range(count)))


def test_a_crash_mid_backlog_loses_no_event(tmp_path):
    db_path, log_path = tmp_path / "memory.db", tmp_path / "gunicorn.log"
    key = enterprise_key(db_path)
    receiver = Receiver()  # down: every first attempt is refused and scheduled for retry
    server = GunicornServer(db_path, log_path, **FAST_RETRIES).start()
    status, _, hook = request(
        "POST",
        f"{server.url}/api/v1/webhooks",
        {"url": receiver.url, "events": ["memory.created"]},
        headers(key),
    )
    assert status == 201
    memory_ids = create_memories(server.url, key, 20)
    server.kill()

    with receiver, GunicornServer(db_path, log_path, **FAST_RETRIES) as restarted:
        bodies = receiver.wait_for(20, timeout=60)
        status, _, log = request(
            "GET", f"{restarted.url}/api/v1/webhooks/{hook['id']}/deliveries?limit=100",
            headers=headers(key),
        )  # fmt: skip
    assert sorted(body["data"]["id"] for body in bodies) == sorted(memory_ids)
    assert len({body["id"] for body in bodies}) == 20  # each event once, now the receiver is up
    delivered = [a for a in log["deliveries"] if a["outcome"] == "delivered"]
    assert len(delivered) == 20


def test_four_workers_send_each_event_once_per_attempt(tmp_path):
    db_path = tmp_path / "memory.db"
    key = enterprise_key(db_path)
    with (
        Receiver() as receiver,
        RedisServer() as redis_server,
        GunicornServer(
            db_path,
            tmp_path / "gunicorn.log",
            MEMORY_API_WORKERS="4",
            MEMORY_API_RATELIMIT_STORAGE=redis_server.url,
            **FAST_RETRIES,
        ) as server,
    ):
        status, _, _ = request(
            "POST",
            f"{server.url}/api/v1/webhooks",
            {"url": receiver.url, "events": ["memory.created", "embedding.generated"]},
            headers(key),
        )
        assert status == 201
        memory_ids = create_memories(server.url, key, 40)
        bodies = receiver.wait_for(80, timeout=60)
        time.sleep(2)  # give any duplicate the time to show up before counting
    assert len(receiver.requests) == 80
    assert len({body["id"] for body in receiver.events()}) == 80
    created = sorted(b["data"]["id"] for b in bodies if b["type"] == "memory.created")
    assert created == sorted(memory_ids)
