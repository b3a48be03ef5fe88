"""Delivering outbox events: a background dispatcher per process, Standard Webhooks signatures.

The dispatcher runs an asyncio loop in one thread: every attempt is a coroutine bounded by
MEMORY_API_WEBHOOK_TIMEOUT as a whole (webhooks/client.py), so a slow receiver costs a socket
until its deadline, never a thread. Each endpoint has at most one attempt in flight (across
processes too: a lease held elsewhere counts), each owner at most PER_OWNER_SENDS, the
process at most PARALLEL_SENDS; an outcome is settled as soon as its attempt ends, so one
slow endpoint never holds back another's deliveries.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from memory_server.clock import utc_now
from memory_server.webhooks.client import Result, post
from memory_server.webhooks.outbox import Claimed, Outbox, Outcome
from memory_server.webhooks.urls import DEFAULT_POLICY, NetworkPolicy, UnsafeURL, check_url

log = logging.getLogger(__name__)

PARALLEL_SENDS = 32
PER_OWNER_SENDS = 8
PRUNE_EVERY_SECONDS = 3600
# Longest a due delivery waits for this process's API requests to finish before it goes anyway.
MAX_DEFER_SECONDS = 2.0


class Activity:
    """Counts the API requests this process is serving, so background work can yield to them."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        """A request started."""
        with self._lock:
            self._count += 1

    def leave(self) -> None:
        """A request ended."""
        with self._lock:
            self._count -= 1

    @property
    def idle(self) -> bool:
        """Whether no request is being served right now."""
        return self._count == 0

    async def wait_idle(self, timeout: float) -> None:
        """Return when no request is being served, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.idle and time.monotonic() < deadline:
            await asyncio.sleep(0.01)


def sign(secret: str, event_id: str, timestamp: int, body: str) -> str:
    """The Standard Webhooks `webhook-signature` value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{event_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookDispatcher:
    """Claims due deliveries with a lease, sends them, and schedules retries with backoff."""

    def __init__(
        self,
        outbox: Outbox,
        retry_schedule: Sequence[float],
        timeout: float,
        policy: NetworkPolicy = DEFAULT_POLICY,
        poll_seconds: float = 1.0,
        activity: Activity | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.activity = activity or Activity()
        self.retry_schedule = list(retry_schedule)
        self.timeout = timeout
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.ca_file = ca_file
        # Longer than any attempt can take (its deadline plus the wait for an idle moment): a
        # lease still held after it belongs to a process that died mid-attempt.
        self.lease_seconds = timeout + MAX_DEFER_SECONDS + 5
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._last_prune = 0.0
        # Blocking work off the loop, in pools of their own: the outbox's transactions one at
        # a time, and DNS lookups (which can hang for a resolver's timeout) one per attempt,
        # so a host whose resolver never answers holds up no other delivery.
        self._outbox_pool: ThreadPoolExecutor | None = None
        self._dns_pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start delivering in a background thread (after any fork, never before)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._main, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop now; attempts cut short keep their lease until it expires, then are retried."""
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for due deliveries now (called after a memory change commits)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just ended
                loop.call_soon_threadsafe(wake.set)

    def deliver_due(self) -> int:
        """Attempt every delivery due now, once each, in this thread; return how many."""
        return asyncio.run(self._deliver_due())

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:  # logged; the thread ends and start() can run it again
            log.exception("webhook dispatcher stopped")

    async def _serve(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        flights: dict[asyncio.Task, Claimed] = {}
        self._open_pools()
        try:
            while not self._stop.is_set():
                try:
                    await self._claim_into(flights)
                    await self._prune_now_and_then()
                    wait = await self._until_due(flights)
                except Exception:  # keep delivering whatever one failure was; it is logged
                    log.exception("webhook dispatcher error")
                    wait = self.poll_seconds
                done = await self._next_event(flights, wait)
                try:
                    await self._settle(done, flights)
                except Exception:  # e.g. the database is locked or full: the leases expire,
                    log.exception("webhook outcomes not recorded")  # and they are retried
        finally:
            for task in flights:
                task.cancel()
            self._loop = self._wake = None
            self._close_pools()

    async def _deliver_due(self) -> int:
        flights: dict[asyncio.Task, Claimed] = {}
        attempted = 0
        self._open_pools()
        try:
            while True:
                attempted += await self._claim_into(flights)
                if not flights:
                    return attempted
                done, _ = await asyncio.wait(flights, return_when=asyncio.FIRST_COMPLETED)
                await self._settle(done, flights)
        finally:
            self._close_pools()

    def _open_pools(self) -> None:
        self._outbox_pool = ThreadPoolExecutor(1, thread_name_prefix="webhook-outbox")
        self._dns_pool = ThreadPoolExecutor(PARALLEL_SENDS, thread_name_prefix="webhook-dns")

    def _close_pools(self) -> None:
        self._outbox_pool.shutdown(wait=True)
        self._dns_pool.shutdown(wait=False, cancel_futures=True)  # a hung lookup is let go

    async def _outbox(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking outbox call in its own thread (with its own connection)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._outbox_pool, partial(call, *args, **kwargs))

    async def _claim_into(self, flights: dict[asyncio.Task, Claimed]) -> int:
        """Claim what may start now and start it; return how many were started."""
        free = PARALLEL_SENDS - len(flights)
        if free <= 0 or self._stop.is_set():
            return 0
        owners = Counter(claimed.owner for claimed in flights.values())
        claimed = await self._outbox(
            self.outbox.claim,
            free,
            self.lease_seconds,
            busy_endpoints=[c.endpoint_id for c in flights.values()],
            full_owners=[owner for owner, n in owners.items() if n >= PER_OWNER_SENDS],
        )
        started, extra = [], []
        for item in claimed:
            if owners[item.owner] >= PER_OWNER_SENDS:
                extra.append(item)  # one claim can bring an owner past its share
                continue
            owners[item.owner] += 1
            started.append(item)
        if extra:
            await self._outbox(self.outbox.release, extra)
        for item in started:
            flights[asyncio.create_task(self._attempt(item))] = item
        return len(started)

    async def _next_event(self, flights: dict[asyncio.Task, Claimed], wait: float) -> set:
        """Wait for an attempt to end, a wake-up, or `wait` seconds; return the ended ones."""
        waker = asyncio.create_task(self._wake.wait())
        done, _ = await asyncio.wait(
            {*flights, waker}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        waker.cancel()
        self._wake.clear()
        return done - {waker}

    async def _settle(self, done: set, flights: dict[asyncio.Task, Claimed]) -> None:
        outcomes = []
        for task in done:
            flights.pop(task)
            if not task.cancelled() and task.result() is not None:
                outcomes.append(task.result())
        if outcomes:
            await self._outbox(self.outbox.settle, outcomes)

    async def _until_due(self, flights: dict[asyncio.Task, Claimed]) -> float:
        """Seconds to sleep before looking for due deliveries again."""
        if len(flights) >= PARALLEL_SENDS:
            return self.poll_seconds
        due = await self._outbox(self.outbox.next_due)
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, due - time.time()))

    async def _prune_now_and_then(self) -> None:
        if time.time() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.time()
            await self._outbox(self.outbox.prune)

    async def _attempt(self, claimed: Claimed) -> Outcome | None:
        # Deliveries are background work: let the API requests this process is serving
        # finish first, but never wait so long that deliveries starve under constant load.
        await self.activity.wait_idle(MAX_DEFER_SECONDS)
        try:
            return self._outcome(claimed, utc_now(), await self._send(claimed))
        except Exception:  # one bad delivery must not stop the others; its lease will expire
            log.exception("webhook delivery %s failed unexpectedly", claimed.event_id)
            return None

    async def _send(self, claimed: Claimed) -> Result:
        deadline = time.monotonic() + self.timeout  # the lookup is part of the attempt
        loop = asyncio.get_running_loop()
        try:
            # Again at every attempt: DNS, this host's addresses and the settings can change.
            async with asyncio.timeout(self.timeout):
                target = await loop.run_in_executor(
                    self._dns_pool, check_url, claimed.url, self.policy
                )
        except TimeoutError:
            return Result(None, "timed out resolving the host", self.timeout * 1000)
        except UnsafeURL as exc:
            return Result(None, f"refused: {exc}", 0.0)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": claimed.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(claimed.secret, claimed.event_id, timestamp, claimed.payload),
        }
        remaining = max(0.001, deadline - time.monotonic())
        return await post(target, claimed.payload.encode(), headers, remaining, self.ca_file)

    def _outcome(self, claimed: Claimed, attempted_at: str, result: Result) -> Outcome:
        code = result.status_code
        done = partial(Outcome, claimed, attempted_at=attempted_at, status_code=code,
                       duration_ms=result.duration_ms)  # fmt: skip
        if code is not None and 200 <= code < 300:
            return done("delivered", error=None)
        error = result.error or f"HTTP {code}"
        if code == 410:
            log.warning("webhook endpoint %s disabled: it answered 410 Gone", claimed.endpoint_id)
            return done("failed", error=error, disable_reason="the receiver answered 410 Gone")
        if claimed.attempt > len(self.retry_schedule):
            return done("failed", error=error)
        # Exponential schedule from the settings, with +-20% jitter so retries do not stampede.
        delay = self.retry_schedule[claimed.attempt - 1] * random.uniform(0.8, 1.2)
        return done("retrying", error=error, retry_at=time.time() + delay)
