"""Bad input: a clear JSON error with the right 4xx, one shape on both surfaces, nothing lost."""

from __future__ import annotations

import json

import pytest

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

SURFACES = ["/v1/memories", "/api/v1/memory"]


@pytest.fixture
def stored(client, auth):
    """One memory that no bad request may change."""
    response = client.post("/api/v1/memory", json={"id": "keep", "text": "keep me"}, headers=auth)
    assert response.status_code == 201
    return client.get("/api/v1/memory/keep", headers=auth).json


def assert_error(response, status, code, surface):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.json
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    if surface.startswith("/v1"):
        assert body["success"] is False
    else:
        assert "success" not in body
    return body


def assert_unchanged(client, auth, stored):
    assert client.get("/api/v1/memory/keep", headers=auth).json == stored
    assert client.get("/api/v1/memory", headers=auth).json["pagination"]["total"] == 1


@pytest.mark.parametrize("surface", SURFACES)
def test_missing_text_is_the_seeds_exact_400(client, auth, surface):
    response = client.post(surface, json={"metadata": {"type": "x"}}, headers=auth)
    body = assert_error(response, 400, "INVALID_REQUEST", surface)
    expected = {
        "error": "INVALID_REQUEST",
        "message": "Text field is required",
        "details": {"missing_fields": ["text"]},
    }
    assert {k: v for k, v in body.items() if k != "success"} == expected


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n\t "}, "text"),
        ({"text": "x" * 50_001}, "text"),
        ({"text": "a\x00b"}, "text"),
        ({"text": 42}, "text"),
        ({"text": None}, "text"),
        ({"text": ["a"]}, "text"),
        ({"text": "ok", "metadata": "string"}, "metadata"),
        ({"text": "ok", "metadata": [1, 2]}, "metadata"),
        ({"text": "ok", "metadata": None}, "metadata"),
        ({"text": "ok", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, "metadata"),
        ({"text": "ok", "metadata": {"big": "x" * 17_000}}, "metadata"),
        ({"text": "ok", "unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_fields_are_named_in_details(client, auth, stored, surface, body, field):
    response = client.post(surface, json=body, headers=auth)
    error = assert_error(response, 400, "INVALID_REQUEST", surface)
    assert field in error["details"]["fields"]
    assert field in error["message"]
    assert_unchanged(client, auth, stored)


@pytest.mark.parametrize("surface", SURFACES)
def test_text_of_exactly_50000_characters_is_accepted(client, auth, surface):
    response = client.post(surface, json={"text": "é" * 50_000}, headers=auth)
    assert response.status_code == 201


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"just a string"',
        b"null",
        b'{"text": "a"} trailing',
        b'{"text": "\\ud800 lone surrogate"}',
        b'{"text": "ok", "metadata": {"\\udfff": 1}}',
        b'{"text": "ok", "metadata": {"n": NaN}}',
        b'{"text": "ok", "metadata": {"n": 1e999}}',
        b'{"text": "ok", "metadata": {"n": -Infinity}}',
        b'{"text": "ok", "metadata": {"n": 1' + b"0" * 5000 + b"}}",
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"text": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
    ],
)
def test_malformed_bodies_are_400(client, auth, stored, surface, raw):
    response = client.post(surface, data=raw, content_type="application/json", headers=auth)
    assert_error(response, 400, "INVALID_REQUEST", surface)
    assert_unchanged(client, auth, stored)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(client, auth, stored, surface, content_type):
    response = client.post(
        surface, data=json.dumps({"text": "hi"}), content_type=content_type, headers=auth
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE", surface)
    assert_unchanged(client, auth, stored)


def test_json_with_charset_is_accepted(client, auth):
    response = client.post(
        "/v1/memories",
        data=json.dumps({"text": "hi"}),
        content_type="application/json; charset=utf-8",
        headers=auth,
    )
    assert response.status_code == 201


@pytest.mark.parametrize("surface", SURFACES)
def test_body_over_the_limit_is_413(app, client, auth, stored, surface):
    limit = app.config["MAX_CONTENT_LENGTH"]
    raw = json.dumps({"text": "x", "metadata": {"pad": "y" * limit}})
    response = client.post(surface, data=raw, content_type="application/json", headers=auth)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", surface)
    assert_unchanged(client, auth, stored)


@pytest.mark.parametrize("surface", SURFACES)
def test_put_with_bad_body_changes_nothing(client, auth, stored, surface):
    for body in ({"text": ""}, {"metadata": 3}, {"text": "new", "embedding": [1.0]}):
        response = client.put(f"{surface}/keep", json=body, headers=auth)
        assert_error(response, 400, "INVALID_REQUEST", surface)
    assert_unchanged(client, auth, stored)


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/api/v1/nope", "/v1/memories/a/b"])
def test_unknown_route_is_404_json(client, auth, path):
    assert_error(client.get(path, headers=auth), 404, "NOT_FOUND", path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("patch", "/v1/memories"),
        ("post", "/v1/memories/some-id"),
        ("delete", "/api/v1/memory"),
        ("post", "/api/v1/memory/some-id"),
        ("post", "/health"),
    ],
)
def test_wrong_method_is_405_json_with_allow(client, auth, method, path):
    response = getattr(client, method)(path, headers=auth)
    assert_error(response, 405, "METHOD_NOT_ALLOWED", path)
    assert response.headers["Allow"]


def test_an_unexpected_failure_is_a_json_500_without_internals(app, client, auth, monkeypatch):
    # The only mock in this file: a storage failure cannot be caused by a client on purpose.
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire: secret internals")

    monkeypatch.setattr(app.extensions["memory_api"].memories.store, "page", broken)
    response = client.get("/v1/memories", headers=auth)
    body = assert_error(response, 500, "INTERNAL_ERROR", "/v1")
    assert "secret" not in json.dumps(body)
