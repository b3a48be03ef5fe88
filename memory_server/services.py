"""The objects one app instance works with, reachable from any request or CLI command."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from memory_server.api_keys import KeyStore
from memory_server.contexts import Contextualizer
from memory_server.expiry import ExpiryPurger
from memory_server.memory_service import MemoryService
from memory_server.storage.database import Database
from memory_server.storage.idempotency_store import IdempotencyStore
from memory_server.storage.topic_store import TopicStore
from memory_server.webhooks.delivery import WebhookDispatcher
from memory_server.webhooks.service import WebhookService


@dataclass(frozen=True)
class Services:
    """The database, keys, memories, webhooks, idempotency keys, topics and background jobs."""

    db: Database
    keys: KeyStore
    memories: MemoryService
    webhooks: WebhookService
    dispatcher: WebhookDispatcher
    idempotency: IdempotencyStore
    purger: ExpiryPurger
    contextualizer: Contextualizer
    topics: TopicStore


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["memory_api"]
