"""A database that cannot be used stops the server, and the CLI, with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server import ROOT, GunicornServer

pytestmark = pytest.mark.server


def garbage_file(path: Path) -> Path:
    path.write_bytes(b"not a database, just some text that is long enough to read " * 80)
    return path


def assert_one_clear_line(log: str, *expected: str) -> None:
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "Cannot start:" in line]
    assert len(lines) == 1, log
    for part in expected:
        assert part in lines[0], lines[0]


def start_and_wait_exit(db_path: Path, log_path: Path) -> tuple[int, str]:
    server = GunicornServer(db_path, log_path).start(wait=False)
    try:
        code = server.wait_exit(timeout=60)
    finally:
        server.stop()
    return code, server.log()


def test_a_corrupt_database_stops_gunicorn_with_one_line(tmp_path):
    db = garbage_file(tmp_path / "corrupt.db")
    code, log = start_and_wait_exit(db, tmp_path / "gunicorn.log")
    assert code != 0
    assert_one_clear_line(log, str(db), "is not a SQLite database, or is damaged")


def test_a_database_whose_folder_cannot_be_made_stops_gunicorn_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the folder should be")
    code, log = start_and_wait_exit(blocker / "memory.db", tmp_path / "gunicorn.log")
    assert code != 0
    assert_one_clear_line(log, str(blocker), "cannot create the folder")


@pytest.fixture
def read_only_folder(tmp_path):
    """A real read-only file system holding a database (root ignores file permissions)."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        from memory_server.storage.database import Database

        db = Database(mount_point / "memory.db")
        db.migrate()
        db.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def test_a_read_only_database_stops_gunicorn_with_one_line(read_only_folder, tmp_path):
    db = read_only_folder / "memory.db"
    code, log = start_and_wait_exit(db, tmp_path / "gunicorn.log")
    assert code != 0
    assert_one_clear_line(log, str(db), "read-only")


def test_the_cli_says_the_same_in_one_line(tmp_path):
    db = garbage_file(tmp_path / "corrupt.db")
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "stats"],
        cwd=ROOT,
        env={**os.environ, "MEMORY_API_DB": str(db)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"Error: Cannot start: {db} is not a SQLite database, or is damaged (restore a backup)"
    )
