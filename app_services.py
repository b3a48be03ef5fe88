"""The objects one app instance works with, reachable from any request or CLI command."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from api_keys import KeyStore
from database import Database
from memory_service import MemoryService


@dataclass(frozen=True)
class Services:
    """The database, the key store and the memory service of one app."""

    db: Database
    keys: KeyStore
    memories: MemoryService


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["memory_api"]
