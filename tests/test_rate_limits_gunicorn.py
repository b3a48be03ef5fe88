"""Quotas on real gunicorn over HTTP: exact with 1 worker + memory://, and 4 workers + Redis."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import headers
from memory_server.api_keys import KeyStore
from memory_server.storage.database import Database
from redis_server import RedisServer
from server import GunicornServer, request

pytestmark = pytest.mark.server


def make_keys(db_path: Path) -> dict[str, str]:
    """One key per tier, created in the database before the server starts."""
    db = Database(db_path)
    db.migrate()
    keys = KeyStore(db)
    made = {tier: keys.create(tier).plaintext for tier in ("free", "pro", "enterprise")}
    db.close()
    return made


def hammer(url: str, key: str, count: int, threads: int = 8) -> list:
    """`count` authenticated requests from `threads` concurrent clients."""
    target = f"{url}/v1/memories?per_page=1"
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: request("GET", target, headers=headers(key)), range(count)))


def assert_exact_quotas(server: GunicornServer, keys: dict[str, str]) -> None:
    start = time.time()
    results = hammer(server.url, keys["free"], 130)
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 100, statuses
    assert statuses.count(429) == 30
    for status, response_headers, body in results:
        assert response_headers["X-RateLimit-Limit"] == "100"
        if status == 429:
            retry_after = body["retry_after"]
            assert body == {
                "success": False,
                "error": "RATE_LIMITED",
                "message": "Too many requests",
                "retry_after": retry_after,
            }
            assert response_headers["Retry-After"] == str(retry_after)
            assert 3600 - (time.time() - start) - 1 <= retry_after <= 3600

    status, pro_headers, _ = request(
        "GET", f"{server.url}/api/v1/memory", headers=headers(keys["pro"])
    )
    assert status == 200
    assert (pro_headers["X-RateLimit-Limit"], pro_headers["X-RateLimit-Remaining"]) == (
        "1000",
        "999",
    )

    boss = hammer(server.url, keys["enterprise"], 1200)
    assert [status for status, _, _ in boss] == [200] * 1200
    assert not any("X-RateLimit-Limit" in response_headers for _, response_headers, _ in boss)


def test_one_worker_with_memory_storage_is_exact(tmp_path):
    keys = make_keys(tmp_path / "memory.db")
    with GunicornServer(tmp_path / "memory.db", tmp_path / "gunicorn.log") as server:
        assert_exact_quotas(server, keys)


def test_four_workers_sharing_redis_are_exact(tmp_path):
    keys = make_keys(tmp_path / "memory.db")
    with (
        RedisServer() as redis_server,
        GunicornServer(
            tmp_path / "memory.db",
            tmp_path / "gunicorn.log",
            MEMORY_API_WORKERS="4",
            MEMORY_API_RATELIMIT_STORAGE=redis_server.url,
        ) as server,
    ):
        pid = server.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(children) == 4
        assert_exact_quotas(server, keys)
        # The exactness means something only if several workers really served the requests.
        served_by = set(re.findall(r"\"worker\": (\d+)", server.log()))
        assert len(served_by) >= 2, served_by


def test_several_workers_with_per_process_storage_refuse_to_start(tmp_path):
    server = GunicornServer(
        tmp_path / "memory.db", tmp_path / "gunicorn.log", MEMORY_API_WORKERS="3"
    ).start(wait=False)
    try:
        exit_code = server.wait_exit(timeout=60)
    finally:
        server.stop()
    assert exit_code != 0
    log = server.log()
    assert "Refusing to start: 3 workers with MEMORY_API_RATELIMIT_STORAGE=memory://" in log
    assert "redis://" in log and "MEMORY_API_WORKERS=1" in log
    assert "Booting worker" not in log  # refused before any worker (or model) existed
