"""The Python SDK against a real server: every call, error mapping, retries, signatures."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from memory_api_client import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    ForbiddenError,
    Memory,
    MemoryAPIError,
    MemoryClient,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ValidationError,
    verify_webhook,
)
from receiver import Receiver

SDK_README = Path(__file__).resolve().parent.parent / "README.md"


def readme_code() -> str:
    """The README's Python blocks, top to bottom, but for those marked `<!-- not run: ... -->`."""
    text = SDK_README.read_text()
    blocks = re.finditer(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    return "".join(
        block.group(1)
        for block in blocks
        if not text[: block.start()].rstrip().endswith("-->")  # a `not run` comment above
    )


def test_the_readme_examples_run_as_written_and_print_what_they_say(sdk_server):
    code = readme_code()
    assert "create_many(" in code and "stats()" in code and "idempotency_key=" in code
    code = code.replace('"http://127.0.0.1:8000"', repr(sdk_server.url))
    workspace = f"readme-{uuid.uuid4().hex[:8]}"  # a fresh one, so the counts are the README's
    code = code.replace(
        '"msk_..."', f"{sdk_server.keys['enterprise']!r}, workspace_id={workspace!r}"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, *rest = done.stdout.splitlines()
    memory_id, status = first.split()
    assert memory_id.startswith("mem_") and status == "stored"
    # Every later print says what it prints in its comment.
    assert rest == re.findall(r"^print\(.*\)  # (.*)$", code, re.MULTILINE)[1:]


def test_upsert_creates_then_updates_the_same_id(client):
    created = client.upsert(
        text="Meeting notes from Q4 planning",
        metadata={"type": "meeting", "tags": ["planning", "q4"]},
    )
    assert created.status == "stored" and created.id.startswith("mem_")
    assert created.embedding_generated and created.vector_dimensions == 384
    assert created.tokens_used > 0
    updated = client.upsert(text="Revised Q4 notes", id=created.id, metadata={"type": "meeting"})
    assert (updated.id, updated.status, updated.embedding_generated) == (
        created.id,
        "updated",
        True,
    )
    memory = client.get(created.id)
    assert isinstance(memory, Memory)
    assert memory.text == "Revised Q4 notes" and memory.metadata == {"type": "meeting"}
    assert len(memory.embedding) == 384


def test_upsert_with_a_custom_id_and_a_client_embedding(client):
    result = client.upsert(text="precomputed", id="custom-1", embedding=[0.5] * 384)
    assert result.id == "custom-1" and result.embedding_generated is False
    assert client.get("custom-1").embedding == [0.5] * 384


def test_update_get_delete(client):
    memory_id = client.upsert(text="first text").id
    assert client.update(memory_id, metadata={"k": 1}).embedding_regenerated is False
    assert client.update(memory_id, text="second text").embedding_regenerated is True
    assert client.get(memory_id).metadata == {"k": 1}
    client.delete(memory_id)
    with pytest.raises(NotFoundError) as error:
        client.get(memory_id)
    assert error.value.status == 404 and error.value.code == "NOT_FOUND"


def test_read_modify_write_with_if_match_loses_no_update(client):
    memory_id = client.upsert(text="groceries", metadata={"items": ["milk"]}).id
    mine, theirs = client.get(memory_id), client.get(memory_id)
    assert mine.etag and mine.etag == theirs.etag
    done = client.update(
        memory_id, metadata={"items": [*mine.metadata["items"], "eggs"]}, if_match=mine.etag
    )
    assert done.etag and done.etag != mine.etag
    with pytest.raises(PreconditionFailedError) as stale:
        client.update(
            memory_id, metadata={"items": [*theirs.metadata["items"], "tea"]}, if_match=theirs.etag
        )
    assert stale.value.status == 412 and stale.value.etag == done.etag
    fresh = client.get(memory_id)  # read again and retry: both items are kept
    client.update(
        memory_id, metadata={"items": [*fresh.metadata["items"], "tea"]}, if_match=fresh.etag
    )
    assert client.get(memory_id).metadata == {"items": ["milk", "eggs", "tea"]}
    with pytest.raises(PreconditionFailedError):
        client.delete(memory_id, if_match=mine.etag)
    client.delete(memory_id, if_match=client.get(memory_id).etag)
    with pytest.raises(NotFoundError):
        client.get(memory_id)


def test_list_iterate_and_delete_all(client):
    ids = [client.upsert(text=f"note {i}").id for i in range(7)]
    page = client.list(page=1, limit=3)
    assert [m.id for m in page.memories] == ids[::-1][:3]
    assert (page.page, page.limit, page.total, page.pages) == (1, 3, 7, 3)
    assert [m.id for m in client.iter_memories(page_size=2)] == ids[::-1]
    with pytest.raises(ValueError):
        client.delete_all()
    assert client.delete_all(confirm=True) == 7
    assert client.list().total == 0


def test_search_with_modes_and_filters(client):
    dog = client.upsert(text="I adopted a golden retriever puppy", metadata={"type": "pet"}).id
    client.upsert(text="The quarterly tax filing is due in April", metadata={"type": "finance"})
    found = client.search("new dog in the family", limit=1)
    assert [r.id for r in found.results] == [dog] and found.total_results == 1
    assert -1 <= found.results[0].score <= 1 and found.search_time_ms > 0
    assert client.search("retriever", mode="keyword").results[0].id == dog
    assert client.search("dog", mode="hybrid", filters={"type": "finance"}).results[0].id != dog
    assert client.search("dog", threshold=0.99).results == []


def test_validation_errors_carry_details(client):
    with pytest.raises(ValidationError) as error:
        client.upsert(text="")
    assert error.value.status == 400 and "text" in error.value.details["fields"]
    with pytest.raises(ValidationError) as error:
        client.search("x", mode="fuzzy")
    assert "mode" in error.value.details["fields"]


def test_conflict_error(sdk_server, client):
    client.upsert(text="t", id="taken")
    # upsert turns a 409 into an update; a raw create shows the ConflictError itself.
    with pytest.raises(ConflictError) as error:
        client._request("POST", "/api/v1/memory", json={"id": "taken", "text": "t"})
    assert error.value.status == 409 and error.value.code == "CONFLICT"


@pytest.mark.parametrize("which", ["revoked", "made-up"])
def test_authentication_error(sdk_server, which):
    key = sdk_server.keys.get(which, "msk_000000000000_" + "a" * 43)
    with MemoryClient(sdk_server.url, key) as bad, pytest.raises(AuthenticationError) as error:
        bad.list()
    assert error.value.status == 401
    assert error.value.message == "Invalid or expired API key"


def test_a_read_only_key_or_another_workspace_is_a_forbidden_error(sdk_server):
    key = sdk_server.keys["read-only"]
    with MemoryClient(sdk_server.url, key, workspace_id="ro-1") as reader:
        assert reader.list().total == 0  # reads work
        with pytest.raises(ForbiddenError) as error:
            reader.upsert(text="not from this key")
    assert error.value.status == 403 and error.value.code == "FORBIDDEN"
    assert "read-only" in error.value.message
    stray = MemoryClient(sdk_server.url, key, workspace_id="elsewhere")
    with stray, pytest.raises(ForbiddenError) as error:
        stray.list()
    assert "may not use workspace 'elsewhere'" in error.value.message


def test_rate_limit_error_has_retry_after_and_does_not_wait_an_hour(sdk_server):
    with MemoryClient(sdk_server.url, sdk_server.keys["free"], max_retries=2) as free:
        for _ in range(3):
            free.list()
        started = time.monotonic()
        with pytest.raises(RateLimitError) as error:
            free.list()
    assert time.monotonic() - started < 5  # Retry-After ~3600 s is beyond max_retry_wait
    assert error.value.status == 429 and 3500 < error.value.retry_after <= 3600


def test_connection_errors_are_typed_and_retried_only_when_safe(monkeypatch):
    calls = []
    with MemoryClient("http://127.0.0.1:9", "msk_x", max_retries=2) as down:
        monkeypatch.setattr("memory_api_client.client._backoff", lambda attempt: 0)
        original = down._session.request
        down._session.request = lambda *a, **k: calls.append(a[0]) or original(*a, **k)
        with pytest.raises(ConnectionError):
            down.list()
        assert calls == ["GET"] * 3
        calls.clear()
        with pytest.raises(ConnectionError) as error:
            down.create_webhook("http://127.0.0.1:9/h", ["memory.created"])
        assert calls == ["POST"]  # a create without an id might happen twice: not retried
    assert isinstance(error.value, MemoryAPIError) and error.value.status == 0


def test_environment_variables_configure_the_client(sdk_server, monkeypatch):
    monkeypatch.setenv("MEMORY_API_URL", sdk_server.url)
    monkeypatch.setenv("MEMORY_API_KEY", sdk_server.keys["enterprise"])
    with MemoryClient() as from_env:
        assert from_env.list().page == 1
    monkeypatch.delenv("MEMORY_API_KEY")
    with pytest.raises(ValueError):
        MemoryClient()


def test_webhook_management_and_signature_verification(client):
    with Receiver() as receiver:
        hook = client.create_webhook(receiver.url, ["memory.created"], description="sdk test")
        assert hook.secret.startswith("whsec_") and hook.enabled
        assert [w.id for w in client.list_webhooks()] == [hook.id]
        assert client.get_webhook(hook.id).secret is None
        changed = client.update_webhook(hook.id, events=["memory.created", "memory.deleted"])
        assert changed.events == ["memory.created", "memory.deleted"]
        client.upsert(text="signed for you")
        receiver.wait_for(1)
        request = receiver.requests[0]
        assert verify_webhook(hook.secret, request["headers"], request["raw"])
        assert not verify_webhook(hook.secret, request["headers"], request["raw"] + " ")
        late = int(request["headers"]["webhook-timestamp"]) + 301
        assert not verify_webhook(hook.secret, request["headers"], request["raw"], now=late)
        deadline = time.monotonic() + 10
        while not client.list_deliveries(hook.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        attempt = client.list_deliveries(hook.id)[0]
        assert attempt.outcome == "delivered" and attempt.status_code == 200
        assert client.update_webhook(hook.id, enabled=False).enabled is False
        client.delete_webhook(hook.id)
        with pytest.raises(NotFoundError):
            client.get_webhook(hook.id)
        with pytest.raises(ValidationError):
            client.create_webhook("ftp://example.com", ["memory.created"])
