"""Hostile requests against a real gunicorn server, one table.

Each request in HOSTILE gets a 4xx JSON error; after each the server still serves and the
memories stored before are exactly as they were. INJECTIONS are SQL- and FTS5-looking strings
in every string field: they are data, so they are stored or searched verbatim (2xx) and
change nothing else.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import pytest

from server import GunicornServer, request

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

pytestmark = pytest.mark.server
MEMORY = "/api/v1/memory"
GOOD = {"text": "The spare key is under the blue flowerpot", "metadata": {"type": "note"}}


@dataclass(frozen=True)
class Hostile:
    """One hostile request: what is sent and the 4xx it must get."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    auth: bool = True


def j(value: object) -> bytes:
    return json.dumps(value).encode()


HOSTILE = [
    Hostile("text is a number", "POST", MEMORY, j({"text": 123})),
    Hostile("text is a list", "POST", MEMORY, j({"text": ["a"]})),
    Hostile("text is an operator object", "POST", MEMORY, j({"text": {"$ne": ""}})),
    Hostile("text is empty", "POST", MEMORY, j({"text": ""})),
    Hostile("text is only whitespace", "POST", MEMORY, j({"text": " \n\t "})),
    Hostile("NUL in the text", "POST", MEMORY, j({"text": "a\u0000b"})),
    Hostile("lone surrogate in the text", "POST", MEMORY, b'{"text": "a\\ud800b"}'),
    Hostile("text over 50,000 characters", "POST", MEMORY, j({"text": "x" * 50_001})),
    Hostile("metadata is a string", "POST", MEMORY, j({"text": "a", "metadata": "x"})),
    Hostile("metadata 200 levels deep", "POST", MEMORY,
            b'{"text": "a", "metadata": ' + b'{"a": ' * 200 + b"1" + b"}" * 201),
    Hostile("documented metadata of the wrong type", "POST", MEMORY,
            j({"text": "a", "metadata": {"tags": "not-a-list"}})),
    Hostile("huge number in metadata", "POST", MEMORY, b'{"text": "a", "metadata": {"n": 1e400}}'),
    Hostile("NaN in an embedding", "POST", MEMORY, b'{"text": "a", "embedding": [NaN]}'),
    Hostile("Infinity in an embedding", "POST", MEMORY, b'{"text": "a", "embedding": [Infinity]}'),
    Hostile("numeric strings in an embedding", "POST", MEMORY,
            j({"text": "a", "embedding": ["0.1"] * 384})),
    Hostile("embedding of the wrong dimension", "POST", MEMORY,
            j({"text": "a", "embedding": [0.1] * 10})),
    Hostile("all-zero embedding", "POST", MEMORY, j({"text": "a", "embedding": [0.0] * 384})),
    Hostile("path traversal as an id", "POST", MEMORY, j({"text": "a", "id": "../../etc/passwd"})),
    Hostile("slash in an id", "POST", MEMORY, j({"text": "a", "id": "a/b"})),
    Hostile("id of 129 characters", "POST", MEMORY, j({"text": "a", "id": "x" * 129})),
    Hostile("id naming an endpoint", "POST", MEMORY, j({"text": "a", "id": "stats"})),
    Hostile("unknown field", "POST", MEMORY, j({"text": "a", "admin": True})),
    Hostile("100k nested brackets", "POST", MEMORY, b"[" * 100_000 + b"]" * 100_000),
    Hostile("invalid UTF-8", "POST", MEMORY, b'{"text": "\xff\xfe"}'),
    Hostile("a JSON array", "POST", MEMORY, b"[1, 2]"),
    Hostile("JSON null", "POST", MEMORY, b"null"),
    Hostile("10 MB body", "POST", MEMORY, j({"text": "x" * 10_000_000}), status=413),
    Hostile("text/plain body", "POST", MEMORY, b"text", status=415, content_type="text/plain"),
    Hostile("empty search query", "POST", f"{MEMORY}/search", j({"query": ""})),
    Hostile("negative limit", "POST", f"{MEMORY}/search", j({"query": "a", "limit": -1})),
    Hostile("limit of 10^20", "POST", f"{MEMORY}/search", j({"query": "a", "limit": 10**20})),
    Hostile("limit as a string", "POST", f"{MEMORY}/search", j({"query": "a", "limit": "10"})),
    Hostile("unknown mode", "POST", f"{MEMORY}/search", j({"query": "a", "mode": "sql"})),
    Hostile("NaN threshold", "POST", f"{MEMORY}/search", b'{"query": "a", "threshold": NaN}'),
    Hostile("date filter that is no date", "POST", f"{MEMORY}/search",
            j({"query": "a", "filters": {"created_after": "yesterday'--"}})),
    Hostile("operator object in a metadata filter", "POST", f"{MEMORY}/search",
            j({"query": "a", "filters": {"metadata": {"k": {"$where": "1"}}}})),
    Hostile("unknown filter", "POST", f"{MEMORY}/search", j({"query": "a", "filters": {"x": 1}})),
    Hostile("empty batch", "POST", f"{MEMORY}/batch", j({"memories": []})),
    Hostile("batch of 101", "POST", f"{MEMORY}/batch", j({"memories": [{"text": "a"}] * 101})),
    Hostile("batch item of the wrong type", "POST", f"{MEMORY}/batch",
            j({"memories": [{"text": "ok"}, {"text": 1}]})),
    Hostile("page size as words", "GET", f"{MEMORY}?limit=abc", None),
    Hostile("page zero", "GET", f"{MEMORY}?page=0", None),
    Hostile("page of 10^20", "GET", f"{MEMORY}?page=100000000000000000000", None),
    Hostile("empty bearer token", "GET", MEMORY, None, 401, {"Authorization": "Bearer "},
            auth=False),
    Hostile("basic auth", "GET", MEMORY, None, 401, {"Authorization": "Basic YTpi"}, auth=False),
    Hostile("4 KB made-up key", "GET", MEMORY, None, 401,
            {"Authorization": "Bearer msk_" + "a" * 4000}, auth=False),
    Hostile("SQL as a key", "GET", MEMORY, None, 401,
            {"Authorization": "Bearer ' OR '1'='1"}, auth=False),
    Hostile("path traversal as a workspace", "GET", MEMORY, None, 400,
            {"X-Workspace-ID": "../../etc"}),
    Hostile("workspace of 65 characters", "GET", MEMORY, None, 400, {"X-Workspace-ID": "w" * 65}),
    Hostile("path traversal as an id in the URL", "GET", f"{MEMORY}/..%2F..%2Fetc%2Fpasswd",
            None, 404),
    Hostile("NUL as an id in the URL", "DELETE", f"{MEMORY}/%00", None, 404),
    Hostile("NUL as a webhook id in the URL", "GET", "/api/v1/webhooks/%00", None, 404),
    Hostile("NUL in a metadata value", "POST", MEMORY,
            j({"text": "a", "metadata": {"note": "a\u0000b"}})),
    Hostile("NUL in a metadata key", "POST", MEMORY, j({"text": "a", "metadata": {"k\u0000": 1}})),
    Hostile("NUL in a list filter", "GET",
            MEMORY + "?filters=" + quote(json.dumps({"metadata": {"note": "\u0000"}})), None),
    Hostile("NUL in a LanOnasis client's title", "POST", MEMORY,
            j({"title": "t\u0000", "content": "c"}), 400,
            {"X-Project-Scope": "lanonasis-maas"}),
    Hostile("update with a number as text", "PUT", f"{MEMORY}/kept", j({"text": 5})),
    Hostile("delete all without confirm", "DELETE", "/v1/memories", None),
    Hostile("webhook to a file URL", "POST", "/api/v1/webhooks",
            j({"url": "file:///etc/passwd", "events": ["memory.created"]})),
    Hostile("webhook to the metadata service", "POST", "/api/v1/webhooks",
            j({"url": "http://169.254.169.254/latest/meta-data", "events": ["memory.created"]}),
            403),
]  # fmt: skip

INJECTIONS = [
    "'; DROP TABLE memories; --",
    '" OR 1=1 --',
    'text: * NEAR(a b) ^ "unclosed',
    "memories_fts MATCH '*'",
    'fts_scope : "s00" OR text : x',
    "%' UNION SELECT key, value FROM meta --",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    with GunicornServer(tmp / "memory.db", tmp / "gunicorn.log") as running:
        running.key = next(w for w in running.log().split() if w.startswith("msk_"))
        status, _, _ = call(running, "POST", MEMORY, j({"id": "kept", **GOOD}))
        assert status == 201
        yield running


def call(
    server: GunicornServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
    auth: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """Send exactly these bytes (urllib would re-encode some of them)."""
    sent = {"Authorization": f"Bearer {server.key}"} if auth else {}
    if content_type and body is not None:
        sent["Content-Type"] = content_type
    sent |= headers or {}
    address = urlsplit(server.url)
    if body is not None and len(body) > BIG:
        return oversized(address.hostname, address.port, method, path, body, sent)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


BIG = 2**20


def oversized(
    host: str, port: int, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Announce a huge body, send its start, and read the answer the server gives at once.

    The server refuses by Content-Length without reading the body and closes the connection;
    a client that kept sending 10 MB would get a broken pipe instead of the answer.
    """
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(head.encode() + body[:65536])
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def everything(server: GunicornServer) -> list[dict]:
    status, _, body = call(server, "GET", f"{MEMORY}?limit=100")
    assert status == 200
    return json.loads(body)["memories"]


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_a_hostile_request_gets_a_4xx_json_error_and_changes_nothing(server, case):
    before = everything(server)
    status, headers, body = call(
        server, case.method, case.path, case.body, case.headers, case.content_type, case.auth
    )
    assert status == case.status, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    error = json.loads(body)
    assert error.get("error") and error.get("message")
    assert everything(server) == before
    assert request("GET", f"{server.url}/health")[0] == 200


def test_the_table_is_at_least_forty_requests():
    assert len(HOSTILE) >= 40 and len({case.name for case in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("evil", INJECTIONS)
def test_sql_and_fts_strings_are_plain_data_in_every_field(server, evil):
    before = {m["id"]: m for m in everything(server)}
    memory_id = f"inj{INJECTIONS.index(evil)}"
    body = {"id": memory_id, "text": evil, "metadata": {evil: evil, "type": evil, "tags": [evil]}}
    status, _, created = call(server, "POST", MEMORY, j(body))
    assert status == 201, created
    status, _, got = call(server, "GET", f"{MEMORY}/{memory_id}")
    stored = json.loads(got)
    assert (stored["text"], stored["metadata"]) == (evil, body["metadata"])
    for mode in ("semantic", "keyword", "hybrid"):
        query = {"query": evil, "mode": mode, "filters": {"type": evil, "tags": {"any": [evil]}}}
        status, _, found = call(server, "POST", f"{MEMORY}/search", j(query))
        assert status == 200, found
        assert [r["id"] for r in json.loads(found)["results"]] == [memory_id]
    status, _, updated = call(server, "PUT", f"{MEMORY}/{memory_id}", j({"text": evil + " again"}))
    assert status == 200, updated
    after = {m["id"]: m for m in everything(server)}
    assert {k: v for k, v in after.items() if k != memory_id} == before


@pytest.mark.parametrize(
    "path",
    ["/api/v1/memory/%00", "/api/v1/memory/a%00b/history", "/v1/memories/%00",
     "/api/v1/webhooks/%00", "/api/v1/webhooks/%00/deliveries", "/api/v1/topics/%00"],
)  # fmt: skip
def test_a_nul_in_a_path_names_nothing_on_either_backend(client, auth, path):
    """In-process, where no HTTP front stands between: PostgreSQL refuses NUL in any text."""
    for method in ("GET", "DELETE"):
        response = client.open(path, method=method, headers=auth)
        assert response.status_code in (404, 405), (method, path, response.status_code)
