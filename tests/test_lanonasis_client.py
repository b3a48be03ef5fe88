"""The official LanOnasis client, installed from npm, against a real gunicorn server.

`make test-lanonasis` installs `@lanonasis/memory-client` 2.2.0 (pinned with its hash in
tests/lanonasis/package-lock.json) into a temp folder and names it in LANONASIS_CLIENT_DIR;
this test starts the server, runs tests/lanonasis/client.test.mjs there with Node, and reads
what the client stored back through both seed surfaces. Only loopback is called.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from server import ROOT, GunicornServer, make_keys, request

pytestmark = [pytest.mark.server, pytest.mark.lanonasis]

SCRIPT = ROOT / "tests" / "lanonasis" / "client.test.mjs"
SEED_TEXT = "Q4 planning: ship the importer by Friday.\nThen the docs."


def client_folder() -> Path:
    """Where `make test-lanonasis` installed the client."""
    folder = os.environ.get("LANONASIS_CLIENT_DIR")
    if not folder or not (Path(folder) / "node_modules" / "@lanonasis" / "memory-client").is_dir():
        pytest.fail("run `make test-lanonasis`: it installs the client from npm, then runs this")
    return Path(folder)


def call(server, method: str, path: str, key: str, body=None) -> tuple[int, dict]:
    status, _, found = request(method, server.url + path, body, {"Authorization": f"Bearer {key}"})
    return status, found


def test_the_official_client_works_against_the_server(tmp_path):
    folder, node = client_folder(), shutil.which("node")
    assert node, "Node 18+ is needed (the client uses its fetch)"
    shutil.copy(SCRIPT, folder / SCRIPT.name)  # next to node_modules: Node resolves from there
    keys = make_keys(tmp_path / "memory.db", {"client": ("pro", "ann"), "seed": ("pro", "bob")})
    with GunicornServer(tmp_path / "memory.db", tmp_path / "gunicorn.log") as server:
        # The other way round: a memory stored through the seed's API, read by the client.
        seed = {"text": SEED_TEXT, "metadata": {"type": "meeting", "tags": ["planning", "q4"]}}
        status, stored = call(server, "POST", "/api/v1/memory", keys["seed"], seed)
        assert status == 201 and stored["status"] == "stored"
        result_file = tmp_path / "stored.json"
        env = {
            "PATH": os.environ["PATH"],
            "MEMORY_URL": server.url,
            "API_KEY": keys["client"],
            "SEED_KEY": keys["seed"],
            "SEED_ID": stored["id"],
            "RESULT_FILE": str(result_file),
        }
        ran = subprocess.run(
            [node, "--test", "--test-reporter=spec", SCRIPT.name],
            cwd=folder, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
        made = json.loads(result_file.read_text())
        # What the client stored is an ordinary memory of both seed surfaces.
        status, boiler = call(server, "GET", f"/api/v1/memory/{made['boiler']}", keys["client"])
        assert status == 200
        assert boiler["text"].startswith("The boiler gets its yearly service")
        assert boiler["metadata"] == {
            "room": "basement", "title": "Boiler service (yearly)", "type": "workflow",
            "status": "archived", "tags": ["home", "maintenance"], "project_ref": "house",
        }  # fmt: skip
        status, listed = call(server, "GET", "/v1/memories?limit=10", keys["client"])
        assert status == 200
        assert {m["id"] for m in listed["data"]} == {made["boiler"], made["wifi"], made["filed"]}
        status, found = call(
            server, "POST", "/v1/memories/search", keys["client"],
            {"query": "guest wifi password", "filters": {"tags": {"any": ["home"]}}, "limit": 1},
        )  # fmt: skip
        assert status == 200 and found["data"][0]["id"] == made["wifi"]
        status, _ = call(server, "GET", f"/api/v1/memory/{made['plain']}", keys["client"])
        assert status == 404  # deleted by the client
