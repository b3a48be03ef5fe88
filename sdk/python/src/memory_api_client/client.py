"""`MemoryClient`: the memory server's REST API as typed Python calls, with safe retries."""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from .errors import ConflictError, ConnectionError, NotFoundError, error_from_response
from .inputs import NewMemory, OnDuplicate, SearchFilters, SearchMode, filters_json, item_json
from .models import (
    BatchResult,
    DeliveryAttempt,
    Memory,
    MemoryPage,
    MemoryStats,
    MemoryVersion,
    SearchResult,
    SearchResults,
    UpdateResult,
    UpsertResult,
    Webhook,
)

RETRY_STATUSES = (429, 503)  # the server did nothing: always safe to send again
KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"  # a 409: the first request with the key still runs


class MemoryClient:
    """A client for one server, API key and workspace; use it as a context manager to close it.

    Retries 429 (honouring Retry-After up to `max_retry_wait` seconds) and 503 with
    exponential backoff, and connection failures only for calls that cannot do anything twice:
    reads, updates, deletes, searches, and creates (which send a client-generated id or an
    Idempotency-Key); not a conditional update or delete (`if_match`), whose retry would
    fail on its own first try.

    `ca_bundle`: a PEM file of the CA that signed the server's certificate (a LAN CA, for
    https URLs); this client then trusts only it.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        workspace_id: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 60.0,
        ca_bundle: str | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("MEMORY_API_URL")
        api_key = api_key or os.environ.get("MEMORY_API_KEY")
        if not base_url or not api_key:
            raise ValueError("give base_url and api_key, or set MEMORY_API_URL and MEMORY_API_KEY")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._session = requests.Session()
        # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE override a
        # session's verify, but not a request's.
        self._verify: str | bool = ca_bundle or True
        self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._session.headers["User-Agent"] = "memory-api-client-python/0.1.0"
        if workspace_id:
            self._session.headers["X-Workspace-ID"] = workspace_id

    # Memories ---------------------------------------------------------------------------

    def upsert(
        self,
        text: str,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
        embedding: builtins.list[float] | None = None,
        idempotency_key: str | None = None,
        *,
        ttl_seconds: int | None = None,
        expires_at: datetime | str | None = None,
        on_duplicate: OnDuplicate | None = None,
        duplicate_threshold: float | None = None,
    ) -> UpsertResult:
        """Store a memory, or update the memory with this id if it exists.

        Without an `id`, one is generated here, so a retried create can never store twice.
        `idempotency_key`: send the same key when you retry this create yourself (another
        call, another process) and the server answers with its first answer (`replayed`);
        without an `id`, the id is then derived from the key, so that even a retry the server
        does not replay (it died after storing, before answering) updates, not stores twice.

        `ttl_seconds` or `expires_at` (a `datetime`, naive meaning UTC, or ISO 8601 text) make
        it expire. A live memory with the same text and metadata is not stored again: status
        "duplicate" with that memory's id, unless `on_duplicate="allow"`; with
        `duplicate_threshold` (0-1], a memory whose vector is that cosine-close is one too.
        """
        memory_id = id or _memory_id(idempotency_key)
        expiry = _given(ttl_seconds=ttl_seconds, expires_at=expires_at)
        body = {
            "id": memory_id,
            "text": text,
            **_given(metadata=metadata, embedding=embedding),
            **expiry,
            **_given(on_duplicate=on_duplicate, duplicate_threshold=duplicate_threshold),
        }
        try:
            stored, headers = self._exchange(
                "POST",
                "/api/v1/memory",
                json=body,
                idempotent=True,
                idempotency_key=idempotency_key,
            )
        except ConflictError as error:
            if error.code != "CONFLICT":  # not "the id exists" but a reused or busy key
                raise
            updated = self.update(memory_id, text=text, metadata=metadata, **expiry)
            return UpsertResult(
                memory_id, "updated", updated.embedding_regenerated, expires_at=updated.expires_at
            )
        return UpsertResult(
            stored["id"],
            stored["status"],
            stored["embedding_generated"],
            stored["vector_dimensions"],
            stored["tokens_used"],
            _replayed(headers),
            stored.get("similarity"),
            stored.get("expires_at"),
        )

    def create_many(
        self,
        memories: Sequence[NewMemory],
        idempotency_key: str | None = None,
        *,
        on_duplicate: OnDuplicate | None = None,
        duplicate_threshold: float | None = None,
    ) -> BatchResult:
        """Store 1-100 memories in one call: one embedding pass, one transaction.

        An item whose id is taken comes back with status "error" while the others are stored;
        one a memory already holds (in the workspace or earlier in the batch) with status
        "duplicate". `on_duplicate` and `duplicate_threshold` apply to every item that sets
        none. Every batch goes with an Idempotency-Key (`idempotency_key`, or one made here),
        so a retry after a lost answer gets the first answer back; pass your own key to retry
        the batch yourself just as safely.
        """
        key = idempotency_key or f"sdk-{uuid.uuid4()}"
        body = {
            "memories": [item_json(memory) for memory in memories],
            **_given(on_duplicate=on_duplicate, duplicate_threshold=duplicate_threshold),
        }
        found, headers = self._exchange(
            "POST", "/api/v1/memory/batch", json=body, idempotent=True, idempotency_key=key
        )
        return BatchResult.from_json(found, _replayed(headers))

    def get(self, id: str) -> Memory:
        """One memory, with its embedding and `etag` (its version, for `if_match`)."""
        found, headers = self._exchange("GET", f"/api/v1/memory/{_segment(id)}")
        return Memory.from_json(found, headers.get("ETag"))

    def update(
        self,
        id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        if_match: str | None = None,
        *,
        ttl_seconds: int | None = None,
        expires_at: datetime | str | None = None,
        clear_expiry: bool = False,
    ) -> UpdateResult:
        """Change the text, replace the metadata and/or change the expiry of a memory.

        What is None stays as it is. `ttl_seconds` or `expires_at` set a new expiry;
        `clear_expiry=True` removes it, so the memory never expires.
        `if_match`: the `etag` of the version read; if the memory changed since, nothing
        changes and PreconditionFailedError carries the current etag.
        """
        if clear_expiry and (ttl_seconds is not None or expires_at is not None):
            raise ValueError("clear_expiry=True removes the expiry: give no other expiry with it")
        body = _given(text=text, metadata=metadata, ttl_seconds=ttl_seconds, expires_at=expires_at)
        if clear_expiry:
            body["expires_at"] = None
        found, headers = self._exchange(
            "PUT", f"/api/v1/memory/{_segment(id)}", json=body, if_match=if_match
        )
        return UpdateResult(
            found["id"],
            found["status"],
            found["embedding_regenerated"],
            headers.get("ETag"),
            found.get("expires_at"),
        )

    def history(self, id: str) -> builtins.list[MemoryVersion]:
        """A memory's kept versions, oldest first: its create, then each update.

        NotFoundError for an unknown (or expired) id; its `code` is "HISTORY_DISABLED" when
        the server keeps no history (MEMORY_API_HISTORY_VERSIONS=0).
        """
        found = self._request("GET", f"/api/v1/memory/{_segment(id)}/history")
        return [MemoryVersion.from_json(version) for version in found["history"]]

    def delete(self, id: str, if_match: str | None = None) -> None:
        """Delete a memory (with `if_match`: only the version with that etag)."""
        self._exchange("DELETE", f"/api/v1/memory/{_segment(id)}", if_match=if_match)

    def list(
        self, page: int = 1, limit: int = 50, filters: SearchFilters | None = None
    ) -> MemoryPage:
        """One page of the workspace's memories, newest first.

        `filters`: only memories meeting them, as in `search` (then `total` and `pages` count
        those). They travel in the URL: one over ~4 KB is refused (a `MemoryAPIError`, 414).
        """
        params: dict[str, Any] = {"page": page, "limit": limit}
        if filters:
            params["filters"] = json.dumps(filters_json(filters), separators=(",", ":"))
        found = self._request("GET", "/api/v1/memory", params=params)
        pagination = found["pagination"]
        return MemoryPage(
            [Memory.from_json(m) for m in found["memories"]],
            pagination["page"],
            pagination["limit"],
            pagination["total"],
            pagination["pages"],
        )

    def iter_memories(
        self, page_size: int = 100, filters: SearchFilters | None = None
    ) -> Iterator[Memory]:
        """Every memory of the workspace, or those meeting `filters`, newest first, each once.

        Each once even if others are added meanwhile.
        """
        seen: set[str] = set()
        page = 1
        while True:
            found = self.list(page=page, limit=page_size, filters=filters)
            for memory in found.memories:
                if memory.id not in seen:
                    seen.add(memory.id)
                    yield memory
            if page >= found.pages:
                return
            page += 1

    def delete_all(self, confirm: bool = False) -> int:
        """Delete every memory of the workspace; needs `confirm=True`. Returns how many."""
        if confirm is not True:
            raise ValueError("delete_all deletes every memory of the workspace: pass confirm=True")
        found = self._request("DELETE", "/v1/memories", params={"confirm": "true"})
        return found["data"]["deleted_count"]

    def search(
        self,
        query: str,
        limit: int = 10,
        threshold: float | None = None,
        mode: SearchMode | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResults:
        """Up to `limit` memories matching the query by meaning, words or both, best first.

        `mode` None is the server's default (hybrid); `threshold` drops results scoring
        below it (scores depend on the mode); `filters` are conditions every result meets,
        applied before the `limit` cut.
        """
        body: dict[str, Any] = {"query": query, "limit": limit}
        if mode is not None:
            body["mode"] = mode
        if threshold is not None:
            body["threshold"] = threshold
        if filters:
            body["filters"] = filters_json(filters)
        found = self._request("POST", "/api/v1/memory/search", json=body, idempotent=True)
        return SearchResults(
            [SearchResult.from_json(result) for result in found["results"]],
            found["query"],
            found["total_results"],
            found["search_time_ms"],
        )

    def stats(self) -> MemoryStats:
        """Counts of this workspace, and of every workspace of the API key's owner."""
        return MemoryStats.from_json(self._request("GET", "/api/v1/memory/stats"))

    # Webhooks ---------------------------------------------------------------------------

    def create_webhook(
        self, url: str, events: builtins.list[str], description: str | None = None
    ) -> Webhook:
        """Register an endpoint; the result's `secret` is the only time it is shown."""
        body: dict[str, Any] = {"url": url, "events": events}
        if description is not None:
            body["description"] = description
        return Webhook.from_json(self._request("POST", "/api/v1/webhooks", json=body))

    def list_webhooks(self) -> builtins.list[Webhook]:
        """The workspace's webhook endpoints."""
        found = self._request("GET", "/api/v1/webhooks")
        return [Webhook.from_json(w) for w in found["webhooks"]]

    def get_webhook(self, id: str) -> Webhook:
        """One webhook endpoint."""
        return Webhook.from_json(self._request("GET", f"/api/v1/webhooks/{_segment(id)}"))

    def update_webhook(
        self,
        id: str,
        url: str | None = None,
        events: builtins.list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change an endpoint; `enabled=False` pauses its deliveries, True resumes them."""
        body = {
            key: value
            for key, value in (
                ("url", url), ("events", events), ("description", description), ("enabled", enabled)
            )
            if value is not None
        }  # fmt: skip
        found = self._request("PATCH", f"/api/v1/webhooks/{_segment(id)}", json=body)
        return Webhook.from_json(found)

    def delete_webhook(self, id: str) -> None:
        """Remove an endpoint, its pending deliveries and its log."""
        self._request("DELETE", f"/api/v1/webhooks/{_segment(id)}")

    def list_deliveries(self, id: str, limit: int = 50) -> builtins.list[DeliveryAttempt]:
        """An endpoint's most recent delivery attempts, newest first."""
        found = self._request(
            "GET", f"/api/v1/webhooks/{_segment(id)}/deliveries", params={"limit": limit}
        )
        return [DeliveryAttempt.from_json(attempt) for attempt in found["deliveries"]]

    # Plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send, retrying what is safe to retry; return the JSON body or raise a typed error."""
        return self._exchange(method, path, json, params, idempotent)[0]

    def _exchange(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        if_match: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Any, Any]:
        """`_request`, returning the answer's headers too."""
        # GET, PUT, PATCH and DELETE do the same thing twice; POSTs say whether they do. A
        # conditional change is not: if a lost answer hid its success, a retry gets 412.
        safe = method != "POST" if idempotent is None else idempotent
        safe = safe and if_match is None
        extra = {
            name: value
            for name, value in (("If-Match", if_match), ("Idempotency-Key", idempotency_key))
            if value is not None
        }
        attempt, waited_in_use = 0, 0.0
        while True:
            last = attempt == self.max_retries
            try:
                response = self._session.request(
                    method,
                    self.base_url + path,
                    json=json,
                    params=params,
                    headers=extra,
                    timeout=self.timeout,
                    allow_redirects=False,
                    verify=self._verify,
                )
            except requests.RequestException as exc:
                if safe and not last:
                    time.sleep(_backoff(attempt))
                    attempt += 1
                    continue
                raise ConnectionError(f"cannot reach {self.base_url}: {exc}") from exc
            if response.status_code < 400:
                return (response.json() if response.content else None), response.headers
            error = error_from_response(
                response.status_code,
                _json(response),
                response.headers.get("Retry-After"),
                response.headers.get("ETag"),
            )
            if isinstance(error, NotFoundError) and method == "DELETE" and attempt > 0:
                return None, response.headers  # an earlier attempt deleted it; answer lost
            if error.code == KEY_IN_USE and waited_in_use < self.max_retry_wait:
                # A retry overtook the first request with its key, which still runs (a slow
                # batch whose answer timed out, say): not a failed attempt, as the same
                # request gets that answer replayed once it is ready.
                wait = float(response.headers.get("Retry-After") or 1)
                waited_in_use += wait
                time.sleep(wait)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                wait = getattr(error, "retry_after", None) or _backoff(attempt)
                if wait <= self.max_retry_wait:
                    time.sleep(wait)
                    attempt += 1
                    continue
            raise error


def _backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, ... (at most 8 s), with jitter."""
    return min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)


def _memory_id(idempotency_key: str | None) -> str:
    """A new memory id: random, or the same for every create with this Idempotency-Key."""
    if idempotency_key is None:
        return f"mem_{uuid.uuid4().hex[:24]}"
    return f"mem_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def _given(**options: Any) -> dict[str, Any]:
    """The options that are not None, as the server reads them (a datetime as ISO 8601 UTC)."""
    return item_json({name: value for name, value in options.items() if value is not None})


def _replayed(headers: Mapping[str, str]) -> bool:
    """Whether the server sent again its first answer to this Idempotency-Key."""
    return headers.get("Idempotent-Replayed") == "true"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _segment(value: str) -> str:
    """An id as one URL path segment (ids never contain '/', but callers may pass anything)."""
    return requests.utils.quote(value, safe="")
