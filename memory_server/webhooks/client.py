"""One webhook POST, bounded whatever the receiver does: asyncio, one deadline for it all.

Connecting, the TLS handshake, sending, and reading the answer's status line and headers
all happen within one timeout; the body of the answer is never read (a 2xx is all a
delivery needs), and its head is read up to MAX_HEAD_BYTES. A receiver that accepts and
then trickles, or never answers, costs this process one coroutine and one socket until the
deadline, never a thread, so it cannot delay deliveries to anyone else.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass
from functools import cache

import certifi

from memory_server.webhooks.urls import Target

USER_AGENT = "memory-server-webhooks/1"
MAX_HEAD_BYTES = 16_384
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: |\r?\n)")


@dataclass(frozen=True)
class Result:
    """What one HTTP attempt came to."""

    status_code: int | None
    error: str | None
    duration_ms: float


@cache
def tls_context(extra_ca_file: str | None = None) -> ssl.SSLContext:
    """Public CAs (certifi's bundle) plus, if given, an extra CA bundle, e.g. a LAN's own CA."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


async def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    extra_ca_file: str | None = None,
) -> Result:
    """POST to the vetted address itself (DNS cannot change between the check and the call)."""
    started = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            https = target.scheme == "https"
            reader, writer = await asyncio.open_connection(
                target.addresses[0],
                target.port,
                ssl=tls_context(extra_ca_file) if https else None,
                server_hostname=target.host if https else None,
                limit=MAX_HEAD_BYTES,
            )
            writer.write(_request(target, body, headers))
            await writer.drain()
            status = await _read_status(reader)
        return Result(status, None, _ms(started))
    except TimeoutError:
        return Result(None, "timed out", _ms(started))
    except (OSError, ssl.SSLError, ValueError, asyncio.IncompleteReadError) as exc:
        return Result(None, _describe(exc), _ms(started))
    finally:
        if writer is not None:
            writer.transport.abort()  # no graceful close to wait for: the answer is read


def _request(target: Target, body: bytes, headers: dict[str, str]) -> bytes:
    """The request bytes; `target.path` is printable ASCII without spaces (webhook_urls)."""
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        f"User-Agent: {USER_AGENT}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


async def _read_status(reader: asyncio.StreamReader) -> int:
    """The status code, after reading the whole head (at most MAX_HEAD_BYTES)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ValueError(f"the answer's headers are over {MAX_HEAD_BYTES} bytes") from exc
    match = _STATUS_LINE.match(head)
    if match is None:
        raise ValueError("the answer is not HTTP/1.x")
    return int(match.group(1))


def _describe(exc: BaseException) -> str:
    """A short, honest reason for the delivery log."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the receiver closed the connection before answering"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.verify_message}"[:300]
    if isinstance(exc, ConnectionRefusedError):
        return "Connection failed: connection refused"
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        return f"Connection failed: {exc.strerror or exc}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
