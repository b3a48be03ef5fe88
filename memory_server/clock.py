"""The one timestamp format: ISO 8601 UTC with milliseconds and a `Z`, which sorts as text."""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """An aware datetime as the stored and answered text, e.g. `2026-12-02T08:01:15.250Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now() -> str:
    """The current time in the one timestamp format."""
    return format_timestamp(datetime.now(UTC))


def from_unix(timestamp: float) -> str:
    """Unix seconds in the one timestamp format."""
    return format_timestamp(datetime.fromtimestamp(timestamp, UTC))
