"""A full disk: writes are a clear 507 that changes nothing, /health says so, reads go on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import headers


def fill_until_full(client, auth) -> tuple[int, object]:
    """Create memories until one is refused; return how many were stored and the refusal."""
    for stored in range(2000):
        response = client.post(
            "/api/v1/memory", json={"text": f"note {stored} " + "words " * 300}, headers=auth
        )
        if response.status_code != 201:
            return stored, response
    raise AssertionError("never filled up")


def assert_full_then_recovers(app, client, auth) -> None:
    """Fill it; then the refusal, what /health says, and that nothing was lost."""
    stored, refused = fill_until_full(client, auth)
    assert stored > 0
    assert refused.status_code == 507 and refused.json["error"] == "STORAGE_FULL"
    listed = client.get("/api/v1/memory?limit=1", headers=auth)
    assert listed.status_code == 200 and listed.json["pagination"]["total"] == stored
    health = client.get("/health")
    assert health.status_code == 503 and health.json["status"] == "unavailable"
    assert health.json["database"]["error"].startswith("storage full")
    assert isinstance(health.json["database"]["free_bytes"], int)
    # Everything acknowledged is there; a delete either frees room or (a disk so full that
    # even its journal cannot grow) is refused the same way, deleting nothing.
    first = listed.json["memories"][0]["id"]
    assert client.get(f"/api/v1/memory/{first}", headers=auth).status_code == 200
    deleted = client.delete(f"/api/v1/memory/{first}", headers=auth)
    assert deleted.status_code in (200, 507)
    still_there = client.get(f"/api/v1/memory/{first}", headers=auth).status_code == 200
    assert still_there == (deleted.status_code == 507)
    v1 = client.post("/v1/memories", json={"text": "x " * 3000}, headers=auth)
    assert v1.status_code in (201, 507)
    if v1.status_code == 507:
        assert v1.json["success"] is False and v1.json["error"] == "STORAGE_FULL"


@pytest.mark.slow
def test_a_database_at_its_size_limit_refuses_writes_with_507(tmp_path, embedder, make_app):
    db = tmp_path / "capped.db"
    probe = make_app({"TESTING": True, "DATABASE": str(db)})
    probe.extensions["memory_api"].memories.prepare()
    probe.extensions["memory_api"].db.close()  # before measuring the file
    cap = db.stat().st_size + 400_000  # room for some memories, then SQLite's own SQLITE_FULL
    app = make_app({"TESTING": True, "DATABASE": str(db), "MAX_DATABASE_BYTES": cap})
    app.extensions["memory_api"].memories.prepare()
    auth = headers(app.extensions["memory_api"].keys.create("enterprise").plaintext)
    assert_full_then_recovers(app, app.test_client(), auth)


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 3 MB file system (tmpfs): needs the right to mount, as root here and in CI."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the size-limit test "
                    "above takes the same SQLITE_FULL path")  # fmt: skip
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.mark.slow
def test_a_full_disk_refuses_writes_with_507(tiny_disk: Path, embedder, make_app):
    app = make_app({"TESTING": True, "DATABASE": str(tiny_disk / "memory.db")})
    app.extensions["memory_api"].memories.prepare()
    auth = headers(app.extensions["memory_api"].keys.create("enterprise").plaintext)
    assert_full_then_recovers(app, app.test_client(), auth)
