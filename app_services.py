"""The objects one app instance works with, reachable from any request or CLI command."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from api_keys import KeyStore
from database import Database
from idempotency_store import IdempotencyStore
from memory_service import MemoryService
from webhook_delivery import WebhookDispatcher
from webhook_store import WebhookStore


@dataclass(frozen=True)
class Services:
    """The database, key store, memory service, webhooks and idempotency keys of one app."""

    db: Database
    keys: KeyStore
    memories: MemoryService
    webhooks: WebhookStore
    dispatcher: WebhookDispatcher
    idempotency: IdempotencyStore


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["memory_api"]
