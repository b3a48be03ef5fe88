"""Delivering outbox events: a background dispatcher per process, Standard Webhooks signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import certifi
import urllib3

from memory_store import utc_now
from webhook_store import Claimed, Outcome, WebhookStore
from webhook_urls import DEFAULT_POLICY, NetworkPolicy, Target, UnsafeURL, check_url

log = logging.getLogger(__name__)

USER_AGENT = "memory-server-webhooks/1"
CLAIM_BATCH = 16
PARALLEL_SENDS = 4
PRUNE_EVERY_SECONDS = 3600
# Longest a due delivery waits for this process's API requests to finish before it goes anyway.
MAX_DEFER_SECONDS = 2.0


class Activity:
    """Counts the API requests this process is serving, so background work can yield to them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def enter(self) -> None:
        """A request started."""
        with self._idle:
            self._count += 1

    def leave(self) -> None:
        """A request ended."""
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        """Return when no request is being served, or after `timeout` seconds."""
        with self._idle:
            self._idle.wait_for(lambda: self._count == 0, timeout)


def sign(secret: str, event_id: str, timestamp: int, body: str) -> str:
    """The Standard Webhooks `webhook-signature` value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{event_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Result:
    """What one HTTP attempt came to."""

    status_code: int | None
    error: str | None
    duration_ms: float


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Result:
    """POST to the vetted address itself, so DNS cannot change between the check and the call."""
    started = time.perf_counter()
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    address = target.addresses[0]
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, **options)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,  # a redirect is a failed attempt, never followed
            preload_content=False,
        )
        response.drain_conn()
        response.release_conn()
        status, error = response.status, None
    except urllib3.exceptions.HTTPError as exc:
        status, error = None, _describe(exc)
    finally:
        pool.close()
    return Result(status, error, (time.perf_counter() - started) * 1000)


def _describe(exc: Exception) -> str:
    """A short, honest reason for the delivery log."""
    # Checked first: urllib3 makes a refused connection a subclass of its connect timeout.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "Connection failed: " + str(exc).rsplit("connection: ", 1)[-1][:200]
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {reason}"[:300]


class WebhookDispatcher:
    """Claims due deliveries with a lease, sends them, and schedules retries with backoff."""

    def __init__(
        self,
        store: WebhookStore,
        retry_schedule: Sequence[float],
        timeout: float,
        policy: NetworkPolicy = DEFAULT_POLICY,
        poll_seconds: float = 1.0,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.activity = activity or Activity()
        self.retry_schedule = list(retry_schedule)
        self.timeout = timeout
        self.policy = policy
        self.poll_seconds = poll_seconds
        # Longer than any attempt can take (urllib3 bounds it by `timeout`): a lease still held
        # after it belongs to a process that died mid-attempt, and the delivery is retried.
        self.lease_seconds = 2 * timeout + 5
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0

    def start(self) -> None:
        """Start delivering in a background thread (after any fork, never before)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current batch; unfinished leases simply expire and are retried."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for due deliveries now (called after a memory change commits)."""
        self._wake.set()

    def deliver_due(self) -> int:
        """Claim and attempt every due delivery once; return how many were attempted."""
        attempted = 0
        with ThreadPoolExecutor(PARALLEL_SENDS) as pool:
            while not self._stop.is_set():
                claimed = self.store.claim(CLAIM_BATCH, self.lease_seconds)
                if not claimed:
                    break
                # Sending happens in the pool; the whole batch is settled in one transaction.
                self.store.settle([o for o in pool.map(self._attempt, claimed) if o is not None])
                attempted += len(claimed)
        return attempted

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                if time.time() - self._last_prune > PRUNE_EVERY_SECONDS:
                    self._last_prune = time.time()
                    self.store.prune()
                wait = self.poll_seconds
                due = self.store.next_due()
                if due is not None:
                    wait = min(wait, max(0.0, due - time.time()))
            except Exception:  # keep delivering whatever one failure was; it is logged
                log.exception("webhook dispatcher error")
                wait = self.poll_seconds
            self._wake.wait(wait)
            self._wake.clear()

    def _attempt(self, claimed: Claimed) -> Outcome | None:
        # Deliveries are background work: let the API requests this process is serving
        # finish first, but never wait so long that deliveries starve under constant load.
        self.activity.wait_idle(MAX_DEFER_SECONDS)
        try:
            return self._outcome(claimed, utc_now(), self._send(claimed))
        except Exception:  # one bad delivery must not stop the others; its lease will expire
            log.exception("webhook delivery %s failed unexpectedly", claimed.event_id)
            return None

    def _send(self, claimed: Claimed) -> Result:
        try:
            target = check_url(claimed.url, self.policy)  # again: DNS and settings can change
        except UnsafeURL as exc:
            return Result(None, f"refused: {exc}", 0.0)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": claimed.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(claimed.secret, claimed.event_id, timestamp, claimed.payload),
        }
        return post(target, claimed.payload.encode(), headers, self.timeout)

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
