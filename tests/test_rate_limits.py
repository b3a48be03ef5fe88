"""Quotas in-process: per key, both surfaces, exact 429s, rolling window, storage failures."""

from __future__ import annotations

import time

import pytest

from helpers import headers
from redis_server import RedisServer
from server import free_port

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

SMALL = {"free": "3/hour", "pro": "5/hour", "enterprise": None}


@pytest.fixture
def new_quota_app(tmp_path, embedder, make_app):
    """An app with these quotas and limiter storage; make_app closes it (and its Redis pool)."""

    def make(tier_limits=None, storage="memory://"):
        app = make_app(
            {
                "TESTING": True,
                "DATABASE": str(tmp_path / "quota.db"),
                "TIER_LIMITS": tier_limits or SMALL,
                "RATELIMIT_STORAGE": storage,
            }
        )
        app.extensions["memory_api"].memories.prepare()
        return app

    return make


@pytest.fixture
def quota_app(new_quota_app):
    return new_quota_app()


@pytest.fixture
def quota_client(quota_app):
    return quota_app.test_client()


@pytest.fixture
def new_key(quota_app):
    def make(tier="free", owner="default"):
        return quota_app.extensions["memory_api"].keys.create(tier, owner).plaintext

    return make


def assert_429(response, v1=False):
    assert response.status_code == 429
    body = dict(response.json)
    if v1:
        assert body.pop("success") is False
    retry_after = body["retry_after"]
    assert body == {
        "error": "RATE_LIMITED",
        "message": "Too many requests",
        "retry_after": retry_after,
    }
    assert response.headers["Retry-After"] == str(retry_after)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    return retry_after


def test_a_free_key_gets_exactly_its_quota_then_the_seeds_429(quota_client, new_key):
    auth = headers(new_key("free"))
    start = time.time()
    for remaining in (2, 1, 0):
        response = quota_client.get("/api/v1/memory", headers=auth)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        reset = int(response.headers["X-RateLimit-Reset"])
        assert start + 3600 <= reset <= time.time() + 3601
    retry_after = assert_429(quota_client.get("/api/v1/memory", headers=auth))
    # The real time until the first of the three leaves the rolling hour, not a constant.
    assert 3600 - (time.time() - start) - 1 <= retry_after <= 3600
    assert_429(quota_client.post("/v1/memories", json={"text": "x"}, headers=auth), v1=True)


def test_one_quota_covers_both_surfaces_and_every_endpoint(quota_client, new_key):
    auth = headers(new_key("free"))
    assert quota_client.post("/v1/memories", json={"text": "a"}, headers=auth).status_code == 201
    assert quota_client.get("/api/v1/memory/missing", headers=auth).status_code == 404
    bad = quota_client.post("/api/v1/memory", json={"metadata": {}}, headers=auth)
    assert bad.status_code == 400  # an authenticated mistake still counts
    assert bad.headers["X-RateLimit-Remaining"] == "0"
    assert_429(quota_client.get("/v1/memories", headers=auth), v1=True)
    # Over quota, nothing runs: the create below is refused before it stores anything.
    assert_429(quota_client.post("/api/v1/memory", json={"text": "late"}, headers=auth))
    pro = headers(new_key("pro"))
    assert quota_client.get("/v1/memories", headers=pro).json["pagination"]["total"] == 1


def test_rejected_keys_count_against_nothing(quota_client, new_key):
    key = new_key("free")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for _ in range(10):
        response = quota_client.get("/v1/memories", headers=headers(tampered))
        assert response.status_code == 401
        assert "X-RateLimit-Remaining" not in response.headers
    response = quota_client.get("/v1/memories", headers=headers(key))
    assert response.headers["X-RateLimit-Remaining"] == "2"


def test_health_and_unknown_routes_are_not_counted(quota_client, new_key):
    auth = headers(new_key("free"))
    for _ in range(10):
        assert quota_client.get("/health", headers=auth).status_code == 200
        assert quota_client.get("/nope", headers=auth).status_code == 404
    assert "X-RateLimit-Limit" not in quota_client.get("/health", headers=auth).headers
    response = quota_client.get("/v1/memories", headers=auth)
    assert response.headers["X-RateLimit-Remaining"] == "2"


def test_tiers_and_keys_are_independent(quota_client, new_key):
    free, other_free, pro = (headers(new_key(t)) for t in ("free", "free", "pro"))
    for _ in range(3):
        quota_client.get("/v1/memories", headers=free)
    assert quota_client.get("/v1/memories", headers=free).status_code == 429
    first_pro = quota_client.get("/v1/memories", headers=pro)
    assert first_pro.headers["X-RateLimit-Limit"] == "5"
    assert first_pro.headers["X-RateLimit-Remaining"] == "4"
    # Per key, not per owner: the same owner's other free key has its own quota.
    assert (
        quota_client.get("/v1/memories", headers=other_free).headers["X-RateLimit-Remaining"] == "2"
    )


def test_enterprise_keys_are_never_limited(quota_client, new_key):
    auth = headers(new_key("enterprise"))
    for _ in range(1200):
        response = quota_client.get("/api/v1/memory?limit=1", headers=auth)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


def test_a_workspace_header_error_counts_like_any_authenticated_request(quota_client, new_key):
    auth = headers(new_key("free"), "bad workspace")
    assert quota_client.get("/v1/memories", headers=auth).status_code == 400
    good = quota_client.get("/v1/memories", headers=headers(new_key("free")))
    assert good.headers["X-RateLimit-Remaining"] == "2"  # another key: untouched
    for _ in range(2):
        quota_client.get("/v1/memories", headers=auth)
    assert quota_client.get("/v1/memories", headers=auth).status_code == 429


@pytest.mark.slow
def test_the_window_rolls_so_straddling_its_edge_gains_nothing(new_quota_app):
    """4 per 2 s, real time: a fixed window would let 4 more through at its edge."""
    app = new_quota_app({"free": "4/2 seconds", "pro": "5/hour", "enterprise": None})
    client = app.test_client()
    auth = headers(app.extensions["memory_api"].keys.create("free").plaintext)
    start = time.monotonic()
    assert [client.get("/v1/memories", headers=auth).status_code for _ in range(2)] == [200, 200]
    time.sleep(1.2)
    second_batch = time.monotonic()
    assert [client.get("/v1/memories", headers=auth).status_code for _ in range(2)] == [200, 200]
    assert client.get("/v1/memories", headers=auth).status_code == 429
    time.sleep(max(0, 2.15 - (time.monotonic() - start)))
    # The first two have left the window; the two sent at +1.2 s are still in it.
    codes = [client.get("/v1/memories", headers=auth).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    retry_after = client.get("/v1/memories", headers=auth).json["retry_after"]
    # The wait is real: until the hits of the second batch leave the 2 s window, rounded up.
    real_wait = second_batch + 2 - time.monotonic()
    assert 0 <= retry_after - real_wait <= 1.05
    time.sleep(retry_after)
    assert client.get("/v1/memories", headers=auth).status_code == 200


def test_unreachable_storage_is_a_503_and_nothing_runs(new_quota_app):
    app = new_quota_app(storage=f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    keys = app.extensions["memory_api"].keys
    auth = headers(keys.create("free").plaintext)
    response = client.post("/api/v1/memory", json={"text": "must not be stored"}, headers=auth)
    assert response.status_code == 503
    assert response.json == {
        "error": "SERVICE_UNAVAILABLE",
        "message": "Rate limit storage is unreachable; try again shortly",
    }
    assert client.get("/health").status_code == 200
    # Enterprise keys are never counted, so they do not need the storage.
    boss = headers(keys.create("enterprise").plaintext)
    assert client.get("/api/v1/memory", headers=boss).json["pagination"]["total"] == 0


@pytest.mark.slow
def test_redis_storage_counts_and_survives_an_outage(new_quota_app):
    with RedisServer() as redis_server:
        app = new_quota_app(storage=redis_server.url)
        client = app.test_client()
        auth = headers(app.extensions["memory_api"].keys.create("free").plaintext)
        assert client.get("/v1/memories", headers=auth).headers["X-RateLimit-Remaining"] == "2"
        redis_server.stop()
        down = client.get("/v1/memories", headers=auth)
        assert down.status_code == 503 and down.json["success"] is False
        redis_server.start()  # an empty Redis: counting starts again
        assert client.get("/v1/memories", headers=auth).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_waiting_the_retry_after_of_a_batch_is_enough_for_that_batch(new_quota_app, backend):
    """Retry-After used the oldest request whatever the batch size: too early for a batch."""
    redis = RedisServer().start() if backend == "redis" else None
    storage = redis.url if redis else "memory://"
    app = new_quota_app({"free": "5/4second", "pro": None, "enterprise": None}, storage)
    client, auth = (
        app.test_client(),
        headers(app.extensions["memory_api"].keys.create("free").plaintext),
    )
    try:
        assert (
            client.post(
                "/api/v1/memory/batch",
                json={"memories": [{"text": "a"}, {"text": "b"}]},
                headers=auth,
            ).status_code
            == 201
        )
        time.sleep(0.6)
        for i in range(3):
            assert (
                client.post(
                    "/api/v1/memory", json={"text": f"single {i}"}, headers=auth
                ).status_code
                == 201
            )
        batch = {"memories": [{"text": f"batch {i}"} for i in range(4)]}
        refused = client.post("/api/v1/memory/batch", json=batch, headers=auth)
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        assert wait == refused.json["retry_after"]
        time.sleep(wait)
        assert client.post("/api/v1/memory/batch", json=batch, headers=auth).status_code == 201
        too_big = client.post(
            "/v1/memories/batch",
            json={"memories": [{"text": str(i)} for i in range(6)]},
            headers=auth,
        )
        assert too_big.status_code == 400 and "at most 5" in too_big.json["message"]
    finally:
        if redis:
            redis.stop()
