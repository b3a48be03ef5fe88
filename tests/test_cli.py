"""`flask --app app keys ...`: in-process through the CLI runner, and once as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import headers

# Every test here runs on a SQLite file and on a real PostgreSQL (tests/conftest.py).
BOTH_BACKENDS = True

ROOT = Path(__file__).resolve().parent.parent


def test_keys_create_prints_the_plaintext_alone_on_the_last_line(app, runner, client):
    result = runner.invoke(
        args=["keys", "create", "--tier", "pro", "--owner", "alice", "--name", "laptop"]
    )
    assert result.exit_code == 0, result.output
    plaintext = result.stdout.strip().splitlines()[-1]
    assert plaintext.startswith("msk_") and " " not in plaintext
    assert "owner 'alice'" in result.stdout
    key = app.extensions["memory_api"].keys.authenticate(plaintext)
    assert (key.tier, key.owner, key.name) == ("pro", "alice", "laptop")
    assert client.get("/v1/memories", headers=headers(plaintext)).status_code == 200


def test_keys_create_with_expiry(runner):
    result = runner.invoke(args=["keys", "create", "--tier", "free", "--expires-in-days", "30"])
    assert result.exit_code == 0
    assert "expires 20" in result.stdout


def test_keys_create_rejects_bad_input(runner):
    assert runner.invoke(args=["keys", "create", "--tier", "gold"]).exit_code != 0
    assert runner.invoke(args=["keys", "create"]).exit_code != 0
    bad_owner = runner.invoke(args=["keys", "create", "--tier", "free", "--owner", "a b"])
    assert bad_owner.exit_code != 0
    assert "owner" in bad_owner.output


def test_keys_list_never_prints_secrets(runner):
    plaintext = runner.invoke(args=["keys", "create", "--tier", "free"]).stdout.split()[-1]
    result = runner.invoke(args=["keys", "list"])
    assert result.exit_code == 0
    assert plaintext[:16].replace("msk_", "key_") in result.stdout
    assert plaintext not in result.stdout
    assert plaintext.split("_", 2)[2] not in result.stdout
    assert "active" in result.stdout


def test_keys_revoke(app, runner):
    plaintext = runner.invoke(args=["keys", "create", "--tier", "free"]).stdout.split()[-1]
    key_id = app.extensions["memory_api"].keys.authenticate(plaintext).id
    result = runner.invoke(args=["keys", "revoke", key_id])
    assert result.exit_code == 0 and key_id in result.stdout
    assert app.extensions["memory_api"].keys.authenticate(plaintext) is None
    assert "revoked" in runner.invoke(args=["keys", "list"]).stdout
    unknown = runner.invoke(args=["keys", "revoke", "key_nope"])
    assert unknown.exit_code == 1 and "no API key" in unknown.output


@pytest.mark.slow
def test_the_real_flask_command_honours_memory_api_db(tmp_path):
    env = {**os.environ, "MEMORY_API_DB": str(tmp_path / "cli.db")}
    flask = [sys.executable, "-m", "flask", "--app", "app", "keys"]
    created = subprocess.run(
        [*flask, "create", "--tier", "enterprise", "--owner", "ops"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    plaintext = created.stdout.strip().splitlines()[-1]
    assert plaintext.startswith("msk_")
    listed = subprocess.run(
        [*flask, "list"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert "enterprise" in listed.stdout and "ops" in listed.stdout
    assert plaintext not in listed.stdout
    assert (tmp_path / "cli.db").exists()
