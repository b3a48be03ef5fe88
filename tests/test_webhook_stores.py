"""The webhook endpoint registry and the outbox on both backends, without HTTP.

The delivery itself (signing, retries, receivers) is tests/test_webhooks.py's; here: what
the stores keep, and that claims hold across processes (hosts) on one database.
"""

from __future__ import annotations

import threading
import time

import pytest

from memory_server.scope import Scope
from memory_server.storage.open_database import open_database
from memory_server.webhooks.endpoints import (
    MAX_ENDPOINTS_PER_WORKSPACE,
    EndpointRegistry,
    TooManyWebhooks,
    WebhookNotFound,
)
from memory_server.webhooks.outbox import Event, Outbox, Outcome

SCOPE = Scope("alice", "default")
CREATED = Event("memory.created", {"id": "m1"})


def enqueue(db, events, scope: Scope = SCOPE) -> int:
    with db.transaction() as conn:
        return Outbox.enqueue(conn, scope, events)


def test_endpoints_are_kept_per_workspace(any_db):
    registry = EndpointRegistry(any_db)
    new = registry.create(SCOPE, "http://127.0.0.1:9/a", ["memory.created"], "first")
    assert new.secret.startswith("whsec_")
    assert registry.list(SCOPE) == [new.endpoint]
    assert registry.list(Scope("alice", "other")) == []
    changed = registry.update(SCOPE, new.endpoint.id, enabled=False, events=["memory.deleted"])
    assert (changed.enabled, changed.events) == (False, ("memory.deleted",))
    assert changed.disabled_reason == "disabled by its owner"
    with pytest.raises(WebhookNotFound):
        registry.get(Scope("bob", "default"), new.endpoint.id)
    registry.delete(SCOPE, new.endpoint.id)
    with pytest.raises(WebhookNotFound):
        registry.delete(SCOPE, new.endpoint.id)


def test_the_endpoint_limit_holds_when_registrations_race(any_db):
    registry = EndpointRegistry(any_db)
    for n in range(MAX_ENDPOINTS_PER_WORKSPACE - 1):
        registry.create(SCOPE, f"http://127.0.0.1:9/{n}", ["memory.created"])
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def register(n: int) -> None:
        store = EndpointRegistry(open_database(any_db.location))
        barrier.wait()
        try:
            store.create(SCOPE, f"http://127.0.0.1:9/race-{n}", ["memory.created"])
            outcomes.append("created")
        except TooManyWebhooks:
            outcomes.append("refused")
        finally:
            store.db.close()

    threads = [threading.Thread(target=register, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 5
    assert len(registry.list(SCOPE)) == MAX_ENDPOINTS_PER_WORKSPACE


def test_events_go_to_subscribed_enabled_endpoints_and_are_claimed_once(any_db):
    registry = EndpointRegistry(any_db)
    hook = registry.create(SCOPE, "http://127.0.0.1:9/a", ["memory.created"]).endpoint
    registry.create(SCOPE, "http://127.0.0.1:9/b", ["memory.deleted"])  # not subscribed
    paused = registry.create(SCOPE, "http://127.0.0.1:9/c", ["memory.created"]).endpoint
    registry.update(SCOPE, paused.id, enabled=False)
    assert enqueue(any_db, [CREATED, Event("memory.created", {"id": "m2"})]) == 2
    outbox = Outbox(any_db)
    first = outbox.claim(10, 30)
    assert [(c.endpoint_id, c.attempt) for c in first] == [(hook.id, 1)]  # one per endpoint
    assert '"id":"m1"' in first[0].payload
    assert outbox.claim(10, 30) == []  # its endpoint has one in flight
    settled = outbox.settle([Outcome(first[0], "delivered", "2026-01-01T00:00:00.000Z", 200,
                                     None, 12.5)])  # fmt: skip
    assert settled == 1
    [second] = outbox.claim(10, 30)
    assert '"id":"m2"' in second.payload
    retry_at = time.time() + 3600
    outbox.settle([Outcome(second, "retrying", "2026-01-01T00:00:01.000Z", 503, "busy", 3.0,
                           retry_at=retry_at)])  # fmt: skip
    assert outbox.claim(10, 30) == []
    assert outbox.next_due() == pytest.approx(retry_at)
    attempts = registry.attempts(SCOPE, hook.id)
    assert [(a.outcome, a.status_code) for a in attempts] == [("retrying", 503), ("delivered", 200)]


def test_a_released_lease_is_due_again_and_busy_or_full_ones_are_skipped(any_db):
    registry = EndpointRegistry(any_db)
    hook = registry.create(SCOPE, "http://127.0.0.1:9/a", ["memory.created"]).endpoint
    enqueue(any_db, [CREATED])
    outbox = Outbox(any_db)
    assert outbox.claim(10, 30, busy_endpoints=[hook.id]) == []
    assert outbox.claim(10, 30, full_owners=["alice"]) == []
    [claimed] = outbox.claim(10, 30)
    outbox.release([claimed])
    [again] = outbox.claim(10, 30)
    assert again.rowid == claimed.rowid and again.lease_token != claimed.lease_token


def test_hosts_claiming_at_once_never_hold_two_leases_for_one_endpoint(any_db):
    registry = EndpointRegistry(any_db)
    hooks = [
        registry.create(SCOPE, f"http://127.0.0.1:9/{n}", ["memory.created"]).endpoint
        for n in range(4)
    ]
    enqueue(any_db, [Event("memory.created", {"id": f"m{n}"}) for n in range(5)])
    claims: list = []
    barrier = threading.Barrier(8)

    def host() -> None:
        outbox = Outbox(open_database(any_db.location))
        barrier.wait()
        claims.append(outbox.claim(10, 60))
        outbox.db.close()

    threads = [threading.Thread(target=host) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [c for batch in claims for c in batch]
    # Each endpoint's earliest delivery, once, whoever got it: no endpoint twice.
    assert sorted(c.endpoint_id for c in claimed) == sorted(h.id for h in hooks)
    assert len({c.rowid for c in claimed}) == len(claimed)
