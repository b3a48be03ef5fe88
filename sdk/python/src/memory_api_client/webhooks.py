"""Checking that a webhook request really came from the memory server (Standard Webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

DEFAULT_TOLERANCE_SECONDS = 300


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True if the signature matches the body and the timestamp is within `tolerance` seconds.

    `headers` may use any capitalisation; pass the raw body exactly as received.
    """
    found = {name.lower(): value for name, value in headers.items()}
    try:
        event_id = found["webhook-id"]
        timestamp = int(found["webhook-timestamp"])
        signatures = found["webhook-signature"].split()
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    signed = f"{event_id}.{timestamp}.".encode() + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, signature.split(",", 1)[1])
        for signature in signatures
        if signature.startswith("v1,")
    )
