"""The console's page and files as the server serves them, and GET /v1/key it signs in with.

In-process (no browser): what a browser would be given. tests/test_console.py drives it.
"""

from __future__ import annotations

import re

import pytest

from helpers import headers
from memory_server.api.console import ASSETS, CONTENT_SECURITY_POLICY

# Every file of the console's folder but the page itself is one of its assets.
ASSET_FILES = sorted(p.name for p in ASSETS.iterdir() if p.name != "index.html")


def test_the_page_and_its_files_carry_a_policy_that_allows_only_this_server(client):
    page = client.get("/console")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html)
    assets = [url for url in referenced if url.startswith("/console/assets/")]
    assert sorted(url.rsplit("/", 1)[1] for url in assets) == ASSET_FILES
    for url in ["/console", *assets]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/console/assets/console.js").mimetype == "text/javascript"
    assert client.get("/console/assets/console.css").mimetype == "text/css"
    policy = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"  # no HTML sink can be used at all


def test_the_reference_page_the_console_links_to_is_locked_down_too(client):
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # falls back to 'none': the page runs no script
    assert response.headers["X-Frame-Options"] == "DENY"


def test_nothing_in_the_page_comes_from_elsewhere_or_runs_inline(client):
    html = client.get("/console").get_data(as_text=True)
    # Every URL it names is this server's (a path), a place in the page, or the empty favicon.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert re.match(r"/[^/]|#", url) or url == "data:,", url
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script: the CSP blocks it"
    assert " style=" not in html and "<style" not in html, "inline style: the CSP blocks it"
    assert not re.search(r"\son[a-z]+=", html), "inline handler: the CSP blocks it"
    for name in ASSET_FILES:
        text = (ASSETS / name).read_text()
        assert not re.search(r"https?://", text), f"{name} names another origin"
        assert "@import" not in text and "url(" not in text, f"{name} loads something"
    script = (ASSETS / "console.js").read_text()
    # Server data goes into the page as text only: no HTML parsing of anything.
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script and "eval(" not in script


def test_the_console_needs_no_key_and_costs_no_quota(client, make_key):
    assert client.get("/console").status_code == 200
    counted = headers(make_key("free"))  # a quota'd key's requests carry the quota headers
    assert "X-RateLimit-Limit" in client.get("/v1/key", headers=counted).headers
    for url in ("/console", "/console/assets/console.js"):
        response = client.get(url, headers=counted)
        assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


def test_only_the_console_files_are_served_and_unchanged_ones_are_not_sent_again(client):
    for path in ("nothing.js", "index.html", "..%2Fapi%2Fconsole.py", "../api/console.py"):
        assert client.get(f"/console/assets/{path}").status_code == 404, path
    first = client.get("/console/assets/console.js")
    unchanged = {"If-None-Match": first.headers["ETag"]}
    again = client.get("/console/assets/console.js", headers=unchanged)
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_v1_key_says_what_the_calling_key_is_never_its_secret(client, make_key):
    secret = make_key("pro", "alice", name="laptop")
    response = client.get("/v1/key", headers=headers(secret))
    assert response.status_code == 200
    data = response.json["data"]
    assert response.json["success"] is True
    assert data["id"] == "key_" + secret.split("_")[1]
    assert (data["name"], data["tier"], data["owner"]) == ("laptop", "pro", "alice")
    assert data["read_only"] is False and data["workspaces"] is None
    assert data["workspace"] == "default" and data["expires_at"] is None
    assert secret.split("_", 2)[2] not in response.get_data(as_text=True)


def test_v1_key_of_a_read_only_key_limited_to_workspaces(client, make_key):
    secret = make_key("free", "bob", read_only=True, workspaces=["atlas", "notes"])
    response = client.get("/v1/key", headers={**headers(secret), "X-Workspace-ID": "atlas"})
    assert response.status_code == 200
    data = response.json["data"]
    assert data["read_only"] is True
    assert data["workspaces"] == ["atlas", "notes"] and data["workspace"] == "atlas"
    # A workspace it may not use is refused, as on every other route.
    refused = client.get("/v1/key", headers={**headers(secret), "X-Workspace-ID": "other"})
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN"


@pytest.mark.parametrize("authorization", [None, "Bearer msk_000000000000_nope", "Basic x"])
def test_v1_key_without_a_valid_key_is_401(client, authorization):
    sent = {"Authorization": authorization} if authorization else {}
    response = client.get("/v1/key", headers=sent)
    assert response.status_code == 401
    assert response.json["success"] is False and response.json["error"] == "UNAUTHORIZED"
