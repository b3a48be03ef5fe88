"""Owners take turns at the model: a long text cannot hold back another owner's embeddings.

The last tests use the real model and the real app, with long texts as a client sends them.
"""

from __future__ import annotations

import threading
import time

import pytest

from helpers import headers, wait_until
from memory_server.embedding.chunking import MAX_CHUNKS, split_text
from memory_server.embedding.turns import TURN_TOKENS, EmbeddingBusy, FairTurns, turns_of
from memory_server.storage.chunk_ids import CHUNK_SLOTS

CJK_50K = "記憶検索" * 12500  # 50,000 characters, ~67,000 tokens: the longest text there is


def test_turns_are_cut_by_tokens_and_never_split_a_text():
    assert turns_of([10] * 5) == [(0, 5)]
    assert turns_of([600, 600, 600]) == [(0, 1), (1, 2), (2, 3)]
    assert turns_of([300, 300, 300, 300, 100]) == [(0, 3), (3, 5)]
    assert turns_of([5000]) == [(0, 1)]  # one text longer than a turn is a turn of its own
    assert turns_of([]) == []


def test_an_owner_waiting_goes_before_the_next_turn_of_a_busy_one():
    turns, order = FairTurns(), []
    a_started_second = threading.Event()

    def long_job() -> None:
        for i in range(6):
            with turns.turn("alice"):
                order.append(f"alice {i}")
                if i == 1:
                    a_started_second.set()
                time.sleep(0.05)

    def short_job() -> None:
        a_started_second.wait()
        with turns.turn("bob"):
            order.append("bob")

    threads = [threading.Thread(target=long_job), threading.Thread(target=short_job)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Bob asked during alice's second turn: he gets the very next one.
    assert order.index("bob") == order.index("alice 1") + 1


def test_owners_rotate_while_several_wait():
    turns, order = FairTurns(), []
    gate = threading.Event()

    def job(owner: str, count: int) -> None:
        for _ in range(count):
            with turns.turn(owner):
                order.append(owner)
                gate.wait()

    first = threading.Thread(target=job, args=("a", 4))
    first.start()
    others = [threading.Thread(target=job, args=(o, 2)) for o in ("b", "c")]
    try:
        wait_until(lambda: order, 10, "a's first turn", poll=0.001)
        for thread in others:
            thread.start()
        # both queued behind a's first turn
        wait_until(lambda: len(turns._waiting) >= 2, 10, "b and c waiting", poll=0.001)
    finally:
        gate.set()  # a failed wait must not leave the threads blocked on the gate
        for thread in [first, *others]:
            if thread.ident is not None:  # started
                thread.join()
    # Each owner's next turn waits until every other waiting owner had one.
    assert order[:6] == ["a", "b", "c", "a", "b", "c"] and order[6:] == ["a", "a"]


def test_long_jobs_are_limited_per_owner_and_per_process():
    turns = FairTurns(long_jobs_total=3)
    with turns.long_job("alice", 10_000), turns.long_job("alice", 10_000):
        with pytest.raises(EmbeddingBusy) as refused, turns.long_job("alice", 10_000):
            pass
        assert refused.value.per_owner and refused.value.retry_after >= 1
        with turns.long_job("bob", 10_000):
            with pytest.raises(EmbeddingBusy) as full, turns.long_job("carol", 10_000):
                pass
            assert not full.value.per_owner
    with turns.long_job("alice", 10_000):  # the slots are free again
        pass


def test_the_chunk_count_never_passes_the_slots(embedder):
    assert MAX_CHUNKS == CHUNK_SLOTS
    tokenizer = embedder._loaded().tokenizer
    many = "\n\n".join(f"Note {i}: the shed key is under pot {i}." for i in range(1030))
    assert len(many) < 50_000
    chunks = split_text(many, tokenizer)
    assert 1 < len(chunks) <= MAX_CHUNKS
    assert "Note 0:" in chunks[0] and "pot 1029." in chunks[-1]  # nothing is dropped
    tiny = "\n\n".join(f"n{i} ok go" for i in range(6000))[:50_000]
    assert len(split_text(tiny, tokenizer)) <= MAX_CHUNKS


@pytest.mark.slow
def test_a_text_of_1030_short_paragraphs_is_stored_and_found(client, auth):
    # The red team's text: 1,030 paragraphs, each a chunk of its own (1,030 > 1,024 slots).
    text = "\n\n".join(f"Pot {i} holds the spare key to shed {i}." for i in range(1030))
    assert len(text) <= 50_000
    response = client.post("/api/v1/memory", json={"text": text}, headers=auth)
    assert response.status_code == 201, response.json
    memory_id = response.json["id"]
    assert client.get(f"/api/v1/memory/{memory_id}", headers=auth).json["text"] == text
    found = client.post(
        "/api/v1/memory/search", json={"query": "which pot holds the key to shed 517"}, headers=auth
    ).json["results"]
    assert [r["id"] for r in found] == [memory_id]


@pytest.mark.slow
def test_another_owners_create_and_search_finish_while_a_50k_text_embeds(app, make_key):
    """The red team's case: one free-key request used to stall every tenant's embeddings."""
    attacker, victim = make_key("free", owner="mallory"), make_key("pro", owner="alice")
    turns = app.extensions["memory_api"].memories.embedder.turns
    long_done, timeline = threading.Event(), {}

    def attack() -> None:
        response = app.test_client().post(
            "/api/v1/memory", json={"text": CJK_50K}, headers=headers(attacker)
        )
        timeline["long"] = (response.status_code, time.monotonic())
        long_done.set()

    thread = threading.Thread(target=attack)
    thread.start()
    # the long text is being embedded
    wait_until(
        lambda: turns._jobs,
        30,
        lambda: f"the long text's embedding (its answer so far: {timeline.get('long')})",
    )
    client = app.test_client()
    created = client.post(
        "/api/v1/memory", json={"text": "Dentist Tuesday"}, headers=headers(victim)
    )
    searched = client.post(
        "/api/v1/memory/search", json={"query": "when is the dentist"}, headers=headers(victim)
    )
    timeline["victim"] = time.monotonic()
    victim_finished_first = not long_done.is_set()
    thread.join()
    assert created.status_code == 201 and searched.status_code == 200
    assert searched.json["results"][0]["text"] == "Dentist Tuesday"
    assert timeline["long"][0] == 201
    # Before the fix the victim's calls waited for the whole text (~20 s); now they take
    # turns with it and are done while it is still being embedded.
    assert victim_finished_first, timeline


@pytest.mark.slow
def test_a_third_long_text_of_one_owner_is_429_with_retry_after(app, make_key):
    key = headers(make_key("pro", owner="bulk"))
    turns = app.extensions["memory_api"].memories.embedder.turns
    long_text = "記憶検索" * 4000  # ~21,000 tokens: many turns
    answers = []

    def send(n: int) -> None:
        # Different texts: the same one twice would be stored once (a duplicate).
        text = f"{n} {long_text}"
        answers.append(app.test_client().post("/api/v1/memory", json={"text": text}, headers=key))

    running = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for thread in running:
        thread.start()
    wait_until(
        lambda: len(turns._jobs) >= 2,
        30,
        lambda: f"both long texts embedding (answered: {[a.status_code for a in answers]})",
    )
    third = app.test_client().post("/v1/memories", json={"text": long_text}, headers=key)
    other_owner_short = app.test_client().post(
        "/api/v1/memory", json={"text": "short"}, headers=headers(make_key("pro", owner="x"))
    )
    for thread in running:
        thread.join()
    assert third.status_code == 429 and third.json["error"] == "EMBEDDING_BUSY"
    assert third.json["success"] is False and third.json["retry_after"] >= 1
    assert third.headers["Retry-After"] == str(third.json["retry_after"])
    assert other_owner_short.status_code == 201
    assert [a.status_code for a in answers] == [201, 201]
    listed = app.test_client().get("/api/v1/memory", headers=key).json
    assert listed["pagination"]["total"] == 2  # the refused one stored nothing
    assert TURN_TOKENS < 21_000
