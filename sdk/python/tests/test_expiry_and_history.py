"""Expiry (ttl_seconds, expires_at, clear_expiry) and history against a real server."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from memory_api_client import MemoryVersion, NotFoundError

TEXT = "The door code of the office is 4711."
UTC = timezone.utc  # noqa: UP017 - as the SDK, which supports Python 3.10


def moment(text: str) -> datetime:
    """A timestamp of the server as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_ttl_seconds_sets_expires_at_on_every_memory_the_client_returns(client):
    before = datetime.now(UTC) + timedelta(seconds=3600)
    stored = client.upsert(text=TEXT, ttl_seconds=3600)
    after = datetime.now(UTC) + timedelta(seconds=3600)
    assert before - timedelta(seconds=1) <= moment(stored.expires_at) <= after
    assert client.get(stored.id).expires_at == stored.expires_at
    assert [m.expires_at for m in client.list().memories] == [stored.expires_at]
    assert client.search("door code").results[0].expires_at == stored.expires_at
    never = client.upsert(text="The office is on the third floor.")
    assert never.expires_at is None and client.get(never.id).expires_at is None
    found = client.search("third floor", mode="keyword").results
    assert [(r.id, r.expires_at) for r in found] == [(never.id, None)]


def test_expires_at_takes_a_datetime_in_any_offset_or_iso_text(client):
    plus_two = timezone(timedelta(hours=2))
    aware = client.upsert(text="aware", expires_at=datetime(2100, 1, 1, 12, 0, tzinfo=plus_two))
    assert aware.expires_at == "2100-01-01T10:00:00.000Z"
    naive = client.upsert(text="naive", expires_at=datetime(2100, 1, 1, 12, 0))  # UTC
    assert client.get(naive.id).expires_at == "2100-01-01T12:00:00.000Z"
    text = client.upsert(text="text", expires_at="2100-01-01T00:00:00+01:00")
    assert client.get(text.id).expires_at == "2099-12-31T23:00:00.000Z"


def test_batch_items_take_an_expiry_each(client):
    done = client.create_many(
        [
            {"text": "for an hour", "ttl_seconds": 3600},
            {"text": "until 2100", "expires_at": datetime(2100, 1, 1, tzinfo=UTC)},
            {"text": "for ever"},
        ]
    )
    hour, until, ever = done.results
    assert moment(hour.expires_at) - datetime.now(UTC) > timedelta(seconds=3500)
    assert until.expires_at == "2100-01-01T00:00:00.000Z"
    assert ever.expires_at is None
    assert client.get(hour.id).expires_at == hour.expires_at
    assert client.get(until.id).expires_at == until.expires_at


def test_an_update_sets_changes_keeps_and_clears_the_expiry(client):
    memory_id = client.upsert(text=TEXT).id
    hour = client.update(memory_id, ttl_seconds=3600)
    assert timedelta(seconds=3500) < moment(hour.expires_at) - datetime.now(UTC)
    assert client.get(memory_id).expires_at == hour.expires_at
    until = client.update(memory_id, expires_at=datetime(2100, 1, 1, tzinfo=UTC))
    assert until.expires_at == "2100-01-01T00:00:00.000Z"
    kept = client.update(memory_id, text=TEXT + " (confirmed)")  # None: left as it is
    assert kept.expires_at == "2100-01-01T00:00:00.000Z"
    cleared = client.update(memory_id, clear_expiry=True)
    assert cleared.expires_at is None and client.get(memory_id).expires_at is None
    with pytest.raises(ValueError):
        client.update(memory_id, ttl_seconds=60, clear_expiry=True)
    assert client.get(memory_id).expires_at is None


def test_upsert_of_an_existing_id_updates_its_expiry(client):
    client.upsert(text=TEXT, id="door")
    again = client.upsert(text=TEXT + " (new)", id="door", ttl_seconds=3600)
    assert again.status == "updated" and again.expires_at is not None
    assert client.get("door").expires_at == again.expires_at


def test_a_memory_with_a_one_second_ttl_is_soon_not_found(client):
    stored = client.upsert(text=TEXT, ttl_seconds=1)
    assert client.get(stored.id).text == TEXT  # there, for now
    wait = (moment(stored.expires_at) - datetime.now(UTC)).total_seconds()
    time.sleep(max(wait, 0) + 0.2)
    with pytest.raises(NotFoundError) as error:
        client.get(stored.id)
    assert error.value.code == "NOT_FOUND"
    with pytest.raises(NotFoundError):
        client.update(stored.id, text="too late")
    with pytest.raises(NotFoundError):
        client.history(stored.id)
    assert client.list().total == 0
    assert client.search("door code").results == []
    assert client.upsert(text=TEXT).status == "stored"  # an expired memory is no duplicate


def test_history_lists_each_version_oldest_first(client):
    memory_id = client.upsert(text="Anna lives in Porto", metadata={"v": 1}).id
    client.update(memory_id, text="Anna lives in Lisbon")
    client.update(memory_id, metadata={"v": 2})
    duplicate = client.upsert(text="Anna lives in Lisbon", metadata={"v": 2})
    assert (duplicate.status, duplicate.id) == ("duplicate", memory_id)  # and no new version
    current = client.get(memory_id)
    history = client.history(memory_id)
    assert all(isinstance(version, MemoryVersion) for version in history)
    assert [(v.version, v.event, v.text, v.metadata) for v in history] == [
        (1, "created", "Anna lives in Porto", {"v": 1}),
        (2, "updated", "Anna lives in Lisbon", {"v": 1}),
        (3, "updated", "Anna lives in Lisbon", {"v": 2}),
    ]
    assert history[0].changed_at == current.created_at
    assert history[-1].changed_at == current.updated_at
    with pytest.raises(NotFoundError) as error:
        client.history("no-such-memory")
    assert error.value.code == "NOT_FOUND"
    client.delete(memory_id)
    with pytest.raises(NotFoundError):
        client.history(memory_id)
