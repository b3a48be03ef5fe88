"""A self-hosted memory server: store texts with metadata, find them again by meaning."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazily, so `import memory_server.settings` (gunicorn's master, the CLI) loads no Flask app.
    if name == "create_app":
        from memory_server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
