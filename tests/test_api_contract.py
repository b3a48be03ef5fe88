"""The OpenAPI document: complete, generated from the validating schemas, and honoured.

The first tests read the document through the test client; the last runs Schemathesis (its
CLI, every default check, all phases) against a real gunicorn server, as CI does.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema_rs
import pytest

from memory_server.api.response_schemas import MemorySchema, StoredSchema
from memory_server.api.schemas import MemoryCreateSchema, SearchRequestSchema, WebhookCreateSchema
from memory_server.storage.database import Database
from server import GunicornServer, request

ROOT = Path(__file__).resolve().parent.parent
ST = Path(sys.executable).with_name("st")
# Enough to exercise every operation in every phase within about two minutes on 2 cores;
# SCHEMATHESIS_EXAMPLES=500 for a deeper run by hand.
# Examples per operation: tests/schemathesis.toml's (40, fewer for filters) unless set here.
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES")


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json


def test_every_route_is_documented_with_its_methods(app, document):
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    routes = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        # /mcp speaks MCP's JSON-RPC, described by its own tools/list (tests/test_mcp.py).
        # The console's script and style are files, not API operations (/console is).
        if rule.endpoint not in ("static", "console.asset", "mcp.mcp_endpoint")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routes
    # 25 API operations, the LanOnasis client's bulk delete and its 6 topic operations,
    # /health and /api/v1/health, /openapi.json, /docs, /console and /
    assert len(routes) == 38


PUBLIC = ("/health", "/api/v1/health", "/openapi.json", "/docs", "/console", "/")


def test_it_is_openapi_3_1_with_bearer_auth_except_on_public_endpoints(document):
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["components"]["securitySchemes"]["apiKeyHeader"]["name"] == "X-API-Key"
    assert document["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = path in (
                "/health",
                "/api/v1/health",
                "/openapi.json",
                "/docs",
                "/console",
                "/",
            )
            assert (operation.get("security") == []) == public, (method, path)
            if not public:
                assert {"400", "401", "429", "503"} <= set(operation["responses"]), path
                headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert "X-Workspace-ID" in headers


def test_creates_take_an_idempotency_key_and_document_location(document):
    creates = [
        ("/v1/memories", "post"),
        ("/v1/memories/batch", "post"),
        ("/api/v1/memory", "post"),
        ("/api/v1/memory/batch", "post"),
    ]
    for path, method in creates:
        operation = document["paths"][path][method]
        assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
        assert "409" in operation["responses"]
    for path in ("/v1/memories", "/api/v1/memory", "/api/v1/webhooks"):
        assert "Location" in document["paths"][path]["post"]["responses"]["201"]["headers"]


def test_bodies_and_answers_are_the_marshmallow_schemas(document):
    schemas = document["components"]["schemas"]
    for name, cls in [
        ("MemoryCreate", MemoryCreateSchema),
        ("SearchRequest", SearchRequestSchema),
        ("WebhookCreate", WebhookCreateSchema),
        ("Memory", MemorySchema),
        ("Stored", StoredSchema),
    ]:
        assert set(schemas[name]["properties"]) == set(cls().fields), name
    body = document["paths"]["/api/v1/memory"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MemoryCreate"
    }
    embedding = schemas["MemoryCreate"]["properties"]["embedding"]
    assert embedding["minItems"] == embedding["maxItems"] == 384
    assert schemas["MemoryUpdate"]["minProperties"] == 1


def _validator(document, name):
    """A JSON Schema validator for one component, its references resolved in the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema_rs.validator_for(schema)


# (body, whether the server's validation accepts it): the document must say the same.
CREATE_BODIES = [
    ({"text": "a"}, True),
    ({"text": "\u3000 x"}, True),
    ({"text": " \n\t\u3000\u2028\x1c"}, False),  # whitespace only, by str.strip()'s rule
    ({"text": "a\x00b"}, False),
    ({"text": "x" * 50_000}, True),
    ({"text": "x" * 50_001}, False),
    ({"text": "a", "id": "note-1:v2.x_y"}, True),
    ({"text": "a", "id": "stats"}, False),
    ({"text": "a", "id": ".."}, False),
    ({"text": "a", "id": "a/b"}, False),
    ({"text": "a", "id": "x" * 129}, False),
    ({"text": "a", "metadata": {"tags": ["x"], "type": "t", "n": [[[[1]]]]}}, True),
    ({"text": "a", "metadata": {"n": [[[[[1]]]]]}}, False),  # 6 levels
    ({"text": "a", "metadata": {"tags": "x"}}, False),
    ({"text": "a", "metadata": {"timestamp": "2024-01-15T10:30:00Z"}}, True),
    ({"text": "a", "embedding": [0.5] * 384}, True),
    ({"text": "a", "embedding": [0.0] * 383 + [1e-15]}, True),
    ({"text": "a", "embedding": [0.0] * 383 + [1e-16]}, False),  # no direction
    ({"text": "a", "embedding": [1e15] * 384}, True),
    ({"text": "a", "embedding": [1.1e15] + [0.5] * 383}, False),
    ({"text": "a", "admin": True}, False),
]


@pytest.mark.parametrize(("body", "accepted"), CREATE_BODIES)
def test_the_document_and_the_server_agree_on_create_bodies(client, auth, document, body, accepted):
    assert _validator(document, "MemoryCreate").is_valid(body) == accepted
    response = client.post("/api/v1/memory", json=body, headers=auth)
    assert response.status_code == (201 if accepted else 400), response.json


# (URL, whether it is well formed, the server's answer): well-formed URLs the network policy
# refuses are 403, not 400. The tests limit webhooks to loopback (and allow no blocked range
# here), and resolve no name: a host name is registered unresolved.
WEBHOOK_URLS = [
    ("https://hooks.example.com:8443/in?x=1", True, 201),
    ("http://192.168.1.20/hook", True, 403),
    ("http://[fd00::5]:9000/", True, 403),
    ("http://0", True, 403),
    ("http://[fd00::5::1]/", False, 400),
    ("http://example.com:0/", False, 400),
    ("http://example.com:65536/", False, 400),
    ("http://user:pw@example.com/", False, 400),
    ("https://hooks.example.com/in?from=a@b", True, 201),
    ("ftp://example.com/", False, 400),
    ("http://exa mple.com/", False, 400),
]


@pytest.mark.parametrize(("url", "well_formed", "status"), WEBHOOK_URLS)
def test_the_document_and_the_server_agree_on_webhook_urls(
    client, auth, document, url, well_formed, status
):
    body = {"url": url, "events": ["memory.created"]}
    assert _validator(document, "WebhookCreate").is_valid(body) == well_formed
    response = client.post("/api/v1/webhooks", json=body, headers=auth)
    assert response.status_code == status, response.json
    assert str(status) in document["paths"]["/api/v1/webhooks"]["post"]["responses"]


@pytest.mark.parametrize(
    ("extra", "valid", "status"),
    [
        ({"duplicate_threshold": 1}, True, 201),
        ({"duplicate_threshold": 0.5}, True, 201),
        ({"duplicate_threshold": 0}, False, 400),
        ({"duplicate_threshold": 1.01}, False, 400),
        ({"on_duplicate": "allow"}, True, 201),
        ({"on_duplicate": "replace"}, False, 400),
        ({"ttl_seconds": 1}, True, 201),
        ({"ttl_seconds": 0}, False, 400),
        ({"ttl_seconds": 5.5}, False, 400),
        ({"expires_at": "2999-01-01T00:00:00Z"}, True, 201),
        ({"expires_at": None}, False, 400),
        ({"ttl_seconds": 60, "expires_at": "2999-01-01T00:00:00Z"}, False, 400),
        # Valid in shape, but passed: the one refusal JSON Schema cannot express (the
        # contract test's hook moves generated times like it into the future).
        ({"expires_at": "2001-01-01T00:00:00Z"}, True, 400),
    ],
)
def test_the_document_and_the_server_agree_on_create_options(
    client, auth, document, extra, valid, status
):
    body = {"text": "The door code is 4711", "on_duplicate": "allow", **extra}
    assert _validator(document, "MemoryCreate").is_valid(body) == valid
    assert client.post("/api/v1/memory", json=body, headers=auth).status_code == status


def test_search_accepts_what_json_schema_calls_an_integer(client, auth, document):
    body = {"query": "a", "limit": 10.0}
    assert _validator(document, "SearchRequest").is_valid(body)
    assert client.post("/api/v1/memory/search", json=body, headers=auth).status_code == 200
    half = {"query": "a", "limit": 10.5}
    assert not _validator(document, "SearchRequest").is_valid(half)
    assert client.post("/api/v1/memory/search", json=half, headers=auth).status_code == 400


def test_urls_naming_other_endpoints_are_405_with_their_allow(client, auth):
    response = client.put("/api/v1/memory/stats", headers=auth)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    response = client.get("/v1/memories/search", headers=auth)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_docs_is_a_self_contained_page_of_every_operation(client, document):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    # Offline: nothing is fetched from elsewhere (no CDN script, style or font).
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert f'id="{operation["operationId"]}"' in page
        assert path in page
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page


def test_a_browser_opening_the_server_is_sent_to_the_console_not_a_json_404(client):
    response = client.get("/")  # no key: a person typing the address in a browser
    assert response.status_code == 302
    assert response.headers["Location"] == "/console"
    page = client.get("/console")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"<title>Memory console</title>" in page.get_data()


@pytest.mark.server
def test_schemathesis_finds_no_failure_against_a_live_server(tmp_path):
    # The server runs under the tests' network rule: webhooks limited to loopback, no blocked
    # range allowed, so every address Schemathesis invents is refused (403, documented) and
    # every name is registered unresolved; nothing is ever delivered anywhere.
    # A new seed each run explores new cases; the failure message names it to reproduce.
    seed = os.environ.get("SCHEMATHESIS_SEED") or str(random.randrange(2**32))
    with GunicornServer(
        tmp_path / "memory.db", tmp_path / "gunicorn.log", MEMORY_API_WEBHOOK_TIMEOUT="1"
    ) as server:
        key = next(w for w in server.log().split() if w.startswith("msk_"))  # enterprise
        status, _, document = request("GET", f"{server.url}/openapi.json")
        assert status == 200
        result = subprocess.run(
            [
                str(ST), "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
                "run", f"{server.url}/openapi.json",
                "--header", f"Authorization: Bearer {key}",
                *(["--max-examples", EXAMPLES] if EXAMPLES else []),
                "--seed", seed,
                "--workers", "1",
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,
            env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT / "tests"),
                 "SCHEMATHESIS_HOOKS": "schemathesis_hooks"},
        )  # fmt: skip
        summary = f"seed {seed} (SCHEMATHESIS_SEED={seed} to repeat)\n" + result.stdout[-12000:]
        assert result.returncode == 0, summary + result.stderr[-2000:]
        # The last line: "No issues found in ..." or, when Schemathesis has advice on its own
        # coverage (e.g. "missing test data": random ids find no webhook), "1 warning in ...";
        # never a failure or an error.
        verdict = summary.strip().splitlines()[-1]
        assert re.search(r"No issues found|\d+ warnings? in", verdict), summary
        assert not re.search(r"fail|error", verdict, re.IGNORECASE), summary
        for phase in ("Coverage", "Fuzzing", "Stateful"):
            assert f"✅ {phase}" in summary, summary
        # Every operation is tested; the CLI leaves out the one it loaded the document from
        # (GET /openapi.json) unless asked for it by name.
        operations = sum(len(methods) for methods in document["paths"].values())
        assert f"Selected: {operations - 1}/{operations - 1}" in summary, summary
        assert f"Tested: {operations - 1}" in summary, summary
    # What Schemathesis registered is only host names, never resolved, so no delivery ever
    # reached anything: every attempt failed before connecting.
    db = Database(tmp_path / "memory.db")
    conn = db.connection()
    urls = [url for (url,) in conn.execute("SELECT url FROM webhook_endpoints")]
    answered = conn.execute(
        "SELECT count(*) FROM webhook_attempts WHERE status_code IS NOT NULL"
    ).fetchone()[0]
    errors = {error for (error,) in conn.execute("SELECT DISTINCT error FROM webhook_attempts")}
    db.close()
    assert not [url for url in urls if _ip_host(url)], urls
    assert answered == 0
    assert all(error.startswith("refused: cannot resolve host") for error in errors), errors


def _ip_host(url: str) -> bool:
    """Whether a URL names its host by IP address (in any form a resolver reads as one)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    try:  # the C library's reading: 1-4 parts, each decimal, octal or hex (0x7f.1, 2130706433)
        socket.inet_aton(host)
    except OSError:
        return False  # e.g. 0.0.0.0.0.0.0: seven parts are a name to look up, not an address
    return True
