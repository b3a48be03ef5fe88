"""Many clients at once: single creates and searches from 1, 4 and 16 concurrent clients.

Each client is a thread with its own keep-alive session, sending one request after another
for a fixed count; a run's throughput is all requests over the wall time from the first
send to the last answer, and its latencies are each request's own. Runs are bounded in count
and time and go only to the server on loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import requests

CLIENTS = (1, 4, 16)
DEADLINE_S = 300  # a run that takes longer than this stops the benchmark


def _client_session(url: str, key: str, workspace: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {key}", "X-Workspace-ID": workspace})
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
    session.mount(url, adapter)
    return session


def run_clients(
    url: str,
    key: str,
    workspace: str,
    clients: int,
    requests_per_client: int,
    make_request: Callable[[int, int], tuple[str, str, dict]],
) -> tuple[float, list[float]]:
    """(requests per second, each request's milliseconds) of `clients` concurrent clients.

    `make_request(client, n)` gives the n-th request of a client: (method, path, body).
    """
    sessions = [_client_session(url, key, workspace) for _ in range(clients)]
    for session in sessions:  # connect first: the run measures requests, not handshakes
        session.get(url + "/health", timeout=30)
    times: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)
    deadline = time.monotonic() + DEADLINE_S

    def client(index: int) -> None:
        try:
            send_all(index)
        except Exception as exc:  # a timeout, a refused connection: the run failed, say why
            errors.append(f"client {index}: {exc!r}")

    def send_all(index: int) -> None:
        start_gate.wait(timeout=60)
        for n in range(requests_per_client):
            if time.monotonic() > deadline:
                errors.append("deadline passed")
                return
            method, path, body = make_request(index, n)
            sent = time.perf_counter()
            answer = sessions[index].request(method, url + path, json=body, timeout=60)
            times[index].append((time.perf_counter() - sent) * 1000)
            if answer.status_code >= 300:
                errors.append(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=DEADLINE_S + 60)
    wall = time.perf_counter() - started
    for session in sessions:
        session.close()
    every = [t for client_times in times for t in client_times]
    if errors or len(every) != clients * requests_per_client:
        raise RuntimeError(f"concurrent run failed: {errors[:1] or 'requests went missing'}")
    return len(every) / wall, every


def measure(
    url: str,
    key: str,
    texts: list[str],
    questions: list[str],
    per_client_total: int,
    put: Callable[[str, float], None],
) -> None:
    """Creates and searches at each client count: throughput, p50 and p95 into `put`."""
    used = 0
    for clients in CLIENTS:
        count = max(1, per_client_total // clients)
        base = used
        used += clients * count
        if used > len(texts):
            raise ValueError("not enough distinct texts for the concurrent creates")

        def create(client: int, n: int, base: int = base, count: int = count) -> tuple:
            return "POST", "/api/v1/memory", {"text": texts[base + client * count + n]}

        def search(client: int, n: int) -> tuple:
            query = questions[(client * 7919 + n) % len(questions)]
            return "POST", "/api/v1/memory/search", {"query": query, "limit": 10}

        for name, make in (("create", create), ("search", search)):
            rate, times = run_clients(url, key, "concurrency", clients, count, make)
            put(f"concurrent.{name}.{clients}.per_s", rate)
            put(f"concurrent.{name}.{clients}.p50", float(np.percentile(times, 50)))
            put(f"concurrent.{name}.{clients}.p95", float(np.percentile(times, 95)))
