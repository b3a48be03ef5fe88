"""The one timestamp format: ISO 8601 UTC with milliseconds and a `Z`, which sorts as text."""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """An aware datetime as the stored and answered text, e.g. `2026-12-02T08:01:15.250Z`."""
    moment = moment.astimezone(UTC)
    # Not strftime: its %Y does not pad years before 1000 on every platform ("420-06-19"),
    # and a time must keep its fixed width to sort as text.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def utc_now() -> str:
    """The current time in the one timestamp format."""
    return format_timestamp(datetime.now(UTC))


def from_unix(timestamp: float) -> str:
    """Unix seconds in the one timestamp format."""
    return format_timestamp(datetime.fromtimestamp(timestamp, UTC))
