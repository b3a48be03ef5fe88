"""A real gunicorn server on a free loopback port, for the tests that need one."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from network_guard import loopback_only

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120


def make_keys(db_path: Path, keys: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Migrate a database and create keys in it before a server starts: {name: plaintext}.

    `keys` maps a name to (tier, owner).
    """
    from memory_server.api_keys import KeyStore
    from memory_server.storage.database import Database

    db = Database(db_path)
    db.migrate()
    store = KeyStore(db)
    made = {name: store.create(tier, owner).plaintext for name, (tier, owner) in keys.items()}
    db.close()
    return made


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request with a JSON body; returns status, headers and the parsed JSON."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers={**sent, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


class GunicornServer:
    """`gunicorn -c gunicorn.conf.py` exactly as `make run` starts it, on a temp database."""

    def __init__(
        self,
        db_path: Path | None,
        log_path: Path,
        tls_ca: Path | None = None,
        command: list[str] | None = None,
        cwd: Path = ROOT,
        **env: str,
    ) -> None:
        """`tls_ca`: the server speaks HTTPS (MEMORY_API_TLS_* in `env`), signed by this CA.

        `command` replaces `make run`'s gunicorn (e.g. an installed `memory-server serve`);
        `db_path` None leaves the database to the server's defaults.
        """
        self.command = command or [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        self.cwd = cwd
        self.port = free_port()
        self.url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{self.port}"
        self.context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
        self.log_path = log_path
        # The tests' network rule first; a test may narrow it (check_loopback_only checks).
        self.env = {
            **loopback_only.subprocess_env(dict(os.environ)),
            **({"MEMORY_API_DB": str(db_path)} if db_path else {}),
            "MEMORY_API_BIND": f"127.0.0.1:{self.port}",
            **env,
        }
        loopback_only.check_loopback_only(self.env)
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> GunicornServer:
        """Start gunicorn; with `wait`, return once /health answers 200."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Block until /health is 200; fail with the log if the server died or never got ready."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.process.returncode}:\n{self.log()}")
            try:
                if request("GET", f"{self.url}/health", context=self.context)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {START_TIMEOUT_S}s:\n{self.log()}")

    def wait_exit(self, timeout: float = START_TIMEOUT_S) -> int:
        """Wait for gunicorn to exit by itself; return its exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM to the process group), then make sure it is gone."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self._log.close()
        self.check_stayed_on_loopback()

    def check_stayed_on_loopback(self) -> None:
        """Fail if the server tried to reach anything but loopback (its guard logs each try)."""
        refused = [line for line in self.log().splitlines() if loopback_only.MARK in line]
        assert not refused, f"the server tried to leave loopback: {refused[:5]}"

    def kill(self) -> None:
        """Crash: SIGKILL to the whole process group, master and workers, no clean-up."""
        os.killpg(self.process.pid, 9)
        self.process.wait()
        self._log.close()
        self.check_stayed_on_loopback()

    def log(self) -> str:
        """Everything gunicorn and the app printed so far."""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
