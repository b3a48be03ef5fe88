"""Batch creates and Idempotency-Key against a real server, lost answers included."""

from __future__ import annotations

import pytest
from lossy_proxy import LossyProxy

from memory_api_client import (
    BatchItemResult,
    BatchResult,
    ConflictError,
    MemoryClient,
    UpsertResult,
    ValidationError,
)


def test_create_many_stores_every_item_and_says_so_per_item(client):
    done = client.create_many(
        [
            {"text": "Standup moved to 9:30"},
            {"id": "q4-notes", "text": "Q4 planning notes", "metadata": {"type": "meeting"}},
            {"text": "precomputed vector", "embedding": [0.25] * 384},
        ]
    )
    assert isinstance(done, BatchResult)
    assert (done.stored, done.failed, done.replayed) == (3, 0, False)
    assert all(isinstance(item, BatchItemResult) for item in done.results)
    assert [item.index for item in done.results] == [0, 1, 2]
    assert [item.status for item in done.results] == ["stored"] * 3
    assert done.results[0].id.startswith("mem_") and done.results[1].id == "q4-notes"
    assert [item.embedding_generated for item in done.results] == [True, True, False]
    assert done.results[0].vector_dimensions == 384 and done.results[0].tokens_used > 0
    assert done.results[2].tokens_used == 0 and done.results[0].error is None
    assert client.get("q4-notes").metadata == {"type": "meeting"}
    assert client.get(done.results[2].id).embedding == [0.25] * 384
    assert client.list().total == 3


def test_create_many_stores_the_rest_when_an_id_is_taken(client):
    client.upsert(text="the original", id="taken")
    done = client.create_many(
        [
            {"id": "taken", "text": "would overwrite"},
            {"id": "twice", "text": "first of two"},
            {"id": "twice", "text": "second of two"},
            {"text": "fine"},
        ]
    )
    assert (done.stored, done.failed) == (2, 2)  # the server's 207
    assert [(item.index, item.id, item.status, item.error) for item in done.results[:3]] == [
        (0, "taken", "error", "CONFLICT"),
        (1, "twice", "stored", None),
        (2, "twice", "error", "CONFLICT"),
    ]
    assert "taken" in done.results[0].message and done.results[0].embedding_generated is None
    assert done.results[3].status == "stored"
    assert client.get("taken").text == "the original"
    assert client.get("twice").text == "first of two"
    assert client.list().total == 3


def test_an_invalid_item_refuses_the_whole_batch(client):
    with pytest.raises(ValidationError) as error:
        client.create_many([{"text": "fine"}, {"text": "   "}])
    assert error.value.status == 400
    assert "text" in error.value.details["fields"]["memories"]["1"]
    assert client.list().total == 0


def test_a_create_retried_with_the_same_idempotency_key_stores_one_memory(client):
    first = client.upsert(text="Dentist on Tuesday at 10", idempotency_key="create-dentist")
    again = client.upsert(text="Dentist on Tuesday at 10", idempotency_key="create-dentist")
    assert isinstance(again, UpsertResult)
    assert (first.status, first.replayed) == ("stored", False)
    assert again == UpsertResult(
        first.id, "stored", True, first.vector_dimensions, first.tokens_used, replayed=True
    )
    assert [m.text for m in client.iter_memories()] == ["Dentist on Tuesday at 10"]

    batch = [{"text": "Call the plumber"}, {"text": "Buy stamps"}]
    stored = client.create_many(batch, idempotency_key="errands")
    retried = client.create_many(batch, idempotency_key="errands")
    assert retried.replayed and not stored.replayed
    assert retried.results == stored.results
    assert client.list().total == 3


def test_a_key_reused_for_another_create_is_refused_not_turned_into_an_update(client):
    kept = client.upsert(text="Pay rent on the 1st", idempotency_key="rent")
    with pytest.raises(ConflictError) as error:
        client.upsert(text="Pay rent on the 2nd", idempotency_key="rent")
    assert error.value.status == 409 and error.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert client.get(kept.id).text == "Pay rent on the 1st"
    with pytest.raises(ConflictError) as error:
        client.create_many([{"text": "Pay rent on the 2nd"}], idempotency_key="rent")
    assert error.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert client.list().total == 1


def test_a_lost_answer_is_retried_and_the_first_answer_replayed(sdk_server, client, monkeypatch):
    monkeypatch.setattr("memory_api_client.client._backoff", lambda attempt: 0)
    workspace, key = client._session.headers["X-Workspace-ID"], sdk_server.keys["enterprise"]
    with (
        LossyProxy(sdk_server.url, lose=1) as proxy,
        MemoryClient(proxy.url, key, workspace_id=workspace) as lossy,
    ):
        one = lossy.upsert(text="Water the plants", idempotency_key="plants")
    assert proxy.answers == [(201, None), (201, None)]  # stored, then replayed
    assert one.replayed and one.status == "stored"
    with (
        LossyProxy(sdk_server.url, lose=1) as proxy,
        MemoryClient(proxy.url, key, workspace_id=workspace) as lossy,
    ):
        # No key given: create_many sends one of its own, so its retry is replayed too.
        many = lossy.create_many([{"text": "Renew passport"}, {"text": "Book flights"}])
    assert proxy.answers == [(201, None), (201, None)]
    assert many.replayed and (many.stored, many.failed) == (2, 0)
    assert sorted(m.text for m in client.iter_memories()) == [
        "Book flights",
        "Renew passport",
        "Water the plants",
    ]


def test_a_retry_overtaking_the_running_first_request_waits_for_its_answer(
    sdk_server, client, monkeypatch
):
    monkeypatch.setattr("memory_api_client.client._backoff", lambda attempt: 0)
    workspace = client._session.headers["X-Workspace-ID"]
    # 100 items keep the server busy for a few hundred ms after the client gave up on them.
    batch = [
        {"text": f"Note {n}: the quarterly numbers for region {n} look fine"} for n in range(100)
    ]
    with (
        LossyProxy(sdk_server.url, lose=1, early=True) as proxy,
        # One retry only: waiting out IDEMPOTENCY_KEY_IN_USE does not use up retries.
        MemoryClient(
            proxy.url, sdk_server.keys["enterprise"], workspace_id=workspace, max_retries=1
        ) as lossy,
    ):
        done = lossy.create_many(batch, idempotency_key="big-batch")
    assert (409, "IDEMPOTENCY_KEY_IN_USE") in proxy.answers
    assert proxy.answers[-1] == (201, None) and proxy.answers.count((201, None)) == 2
    assert done.replayed and done.stored == 100
    assert client.list().total == 100
