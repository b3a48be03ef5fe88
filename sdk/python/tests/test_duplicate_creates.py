"""Duplicates against a real server: answered with the memory that holds them, stored once."""

from __future__ import annotations

from memory_api_client import BatchItemResult, UpsertResult

ANNA = "My sister Anna lives in Porto and works as a nurse."
ANNA_AGAIN = "My sister Anna lives in Porto and she works as a nurse."
BEN = "Ben plays the cello."


def test_the_same_text_and_metadata_is_a_duplicate_of_the_memory_holding_it(client):
    first = client.upsert(text=ANNA, metadata={"type": "fact", "tags": ["family"]})
    again = client.upsert(text=ANNA, metadata={"tags": ["family"], "type": "fact"})
    assert (first.status, first.similarity) == ("stored", None)
    assert again == UpsertResult(
        first.id, "duplicate", False, 384, 0, replayed=False, similarity=1.0, expires_at=None
    )
    other_metadata = client.upsert(text=ANNA, metadata={"type": "note"})
    assert other_metadata.status == "stored" and other_metadata.id != first.id
    assert client.list().total == 2


def test_a_near_duplicate_needs_a_threshold(client):
    first = client.upsert(text=ANNA)
    plain = client.upsert(text=ANNA_AGAIN)  # without a threshold only exact copies count
    assert plain.status == "stored" and plain.id != first.id
    client.delete(plain.id)
    near = client.upsert(text=ANNA_AGAIN, duplicate_threshold=0.95)
    assert (near.status, near.id) == ("duplicate", first.id)
    assert 0.95 <= near.similarity < 1.0
    assert near.tokens_used > 0  # embedded to compare it
    unrelated = client.upsert(text="The office wifi password changed.", duplicate_threshold=0.8)
    assert unrelated.status == "stored"
    assert client.list().total == 2


def test_on_duplicate_allow_stores_a_copy(client):
    first = client.upsert(text=ANNA)
    copy = client.upsert(text=ANNA, on_duplicate="allow")
    assert copy.status == "stored" and copy.id != first.id and copy.similarity is None
    assert sorted(m.id for m in client.iter_memories()) == sorted([first.id, copy.id])


def test_a_batch_dedupes_against_the_workspace_and_within_itself(client):
    stored = client.upsert(text=ANNA).id
    done = client.create_many(
        [
            {"text": ANNA},  # in the workspace already
            {"text": BEN},
            {"text": BEN},  # the item before it
            {"text": BEN, "on_duplicate": "allow"},
            {"text": ANNA_AGAIN, "duplicate_threshold": 0.95},  # near the stored one
        ]
    )
    assert (done.stored, done.duplicates, done.failed) == (2, 3, 0)
    assert [item.status for item in done.results] == [
        "duplicate", "stored", "duplicate", "stored", "duplicate",
    ]  # fmt: skip
    first, ben, ben_again, ben_copy, near = done.results
    assert first == BatchItemResult(
        0, stored, "duplicate", False, 384, 0, similarity=1.0, expires_at=None
    )
    assert ben_again.id == ben.id and ben_again.similarity == 1.0 and ben.similarity is None
    assert ben_copy.id != ben.id
    assert near.id == stored and 0.95 <= near.similarity < 1.0
    assert client.list().total == 3


def test_batch_level_options_apply_to_items_that_set_none(client):
    client.upsert(text=ANNA)
    allowed = client.create_many(
        [{"text": ANNA}, {"text": ANNA, "on_duplicate": "skip"}], on_duplicate="allow"
    )
    assert [item.status for item in allowed.results] == ["stored", "duplicate"]
    assert client.list().total == 2
    near = client.create_many([{"text": ANNA_AGAIN}], duplicate_threshold=0.95)
    # Only duplicates: the server's 200, nothing stored.
    assert (near.stored, near.duplicates, near.failed) == (0, 1, 0)
    assert near.results[0].status == "duplicate" and near.results[0].similarity >= 0.95
    assert client.list().total == 2
