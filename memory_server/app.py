"""The app factory: `create_app()` wires settings, storage, the model, the two APIs and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, g, request

from memory_server.api import (
    console,
    docs,
    health,
    key_info,
    lanonasis,
    lanonasis_topics,
    mcp,
    memories,
    memory_management,
    webhooks,
)
from memory_server.api.auth import authenticate
from memory_server.api.errors import register_error_handlers
from memory_server.api.quotas import init_rate_limits
from memory_server.api.request_log import init_request_log
from memory_server.api.routing import MemoryIdConverter, PathSegmentConverter
from memory_server.api_keys import KeyStore
from memory_server.cli import (
    backup,
    copy_to,
    export,
    import_memories,
    keys_cli,
    reembed,
    stats,
)
from memory_server.contexts import Contextualizer
from memory_server.embedding.model import get_embedder
from memory_server.expiry import ExpiryPurger
from memory_server.mcp.bridge import Bridge
from memory_server.mcp.protocol import build_http_app, build_server
from memory_server.memory_service import MemoryService
from memory_server.services import Services
from memory_server.settings import load_settings
from memory_server.storage.database import DatabaseUnusable
from memory_server.storage.idempotency_store import IdempotencyStore
from memory_server.storage.memory_store import MemoryStore
from memory_server.storage.open_database import open_database
from memory_server.storage.topic_store import TopicStore
from memory_server.webhooks.delivery import Activity, WebhookDispatcher
from memory_server.webhooks.endpoints import EndpointRegistry
from memory_server.webhooks.outbox import Outbox
from memory_server.webhooks.service import WebhookService
from memory_server.webhooks.urls import NetworkPolicy


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then `MEMORY_API_*` variables, then `config` (tests) last.

    The schema is migrated here; the model is not loaded (see `MemoryService.prepare`) and the
    webhook dispatcher and expiry purger are not started (gunicorn starts them in each
    worker), so creating the app before a fork is safe.
    """
    app = Flask(__name__)
    app.config.from_mapping(load_settings())
    if config:
        app.config.from_mapping(config)
    app.json.sort_keys = False  # keep `success` before `data`, `error` before `message`
    app.json.ensure_ascii = False

    try:
        db = open_database(app.config["DATABASE"], app.config["MAX_DATABASE_BYTES"])
        db.migrate()
    except DatabaseUnusable as exc:
        # A ClickException: the flask CLI prints its one line, and gunicorn's master has
        # already refused to start with the same sentence (serving/gunicorn_config.py).
        raise click.ClickException(f"Cannot start: {exc}") from exc
    outbox = Outbox(db)
    activity = Activity()
    policy = NetworkPolicy(
        tuple(app.config["WEBHOOK_ALLOWED_NETWORKS"]),
        tuple(app.config["WEBHOOK_DESTINATION_NETWORKS"]),
    )
    dispatcher = WebhookDispatcher(
        outbox,
        app.config["WEBHOOK_RETRY_SCHEDULE"],
        app.config["WEBHOOK_TIMEOUT"],
        policy,
        activity=activity,
        ca_file=app.config["WEBHOOK_CA_BUNDLE"],
    )
    embedder = get_embedder(
        app.config["EMBEDDING_MODEL"], app.config["EMBEDDING_BACKEND"], app.config["MODEL_CACHE"]
    )
    embedder.turns.limit_long_jobs(app.config["THREADS"])
    memory_service = MemoryService(
        MemoryStore(db, outbox=outbox.enqueue, history_versions=app.config["HISTORY_VERSIONS"]),
        embedder,
        on_change=lambda: (dispatcher.wake(), contextualizer.wake()),
    )
    contextualizer = Contextualizer(memory_service, app.config["CONTEXT_VECTORS"])
    app.extensions["memory_api"] = Services(
        db,
        KeyStore(db),
        memory_service,
        WebhookService(EndpointRegistry(db), outbox, dispatcher),
        dispatcher,
        IdempotencyStore(db),
        ExpiryPurger(memory_service, app.config["EXPIRY_PURGE_SECONDS"]),
        contextualizer,
        TopicStore(db),
    )

    register_error_handlers(app)
    init_request_log(app)  # first: its clock starts before authentication and quotas
    _track_activity(app, activity)
    # Order matters: authenticate before the limiter counts, so a 401 costs no quota.
    app.before_request(authenticate)
    limiter = init_rate_limits(app)
    limiter.request_filter(mcp.not_a_tool_call)
    app.extensions["memory_api.mcp"] = _mcp_bridge(app.config["MAX_CONTENT_LENGTH"])
    app.url_map.converters["memory_id"] = MemoryIdConverter
    app.url_map.converters["default"] = PathSegmentConverter
    surfaces = (health, docs, console, key_info, memories, memory_management, lanonasis,
                lanonasis_topics, webhooks, mcp)  # fmt: skip
    for surface in surfaces:
        app.register_blueprint(surface.bp)
    app.cli.add_command(keys_cli)
    app.cli.add_command(backup)
    app.cli.add_command(stats)
    app.cli.add_command(export)
    app.cli.add_command(import_memories)
    app.cli.add_command(copy_to)
    app.cli.add_command(reembed)
    return app


def _mcp_bridge(max_body_bytes: int) -> Bridge:
    """The MCP server's ASGI app, served from Flask requests; its loop starts on first use."""
    http_app = build_http_app(build_server(), max_body_bytes)
    return Bridge(http_app, lambda: http_app.router.lifespan_context(http_app))


def _track_activity(app: Flask, activity: Activity) -> None:
    """Count in-flight API requests, so webhook deliveries run in the gaps between them."""

    @app.before_request
    def _started() -> None:
        if request.blueprint != "health":
            activity.enter()
            g.counted_activity = True

    @app.teardown_request
    def _ended(exc: BaseException | None) -> None:
        if g.pop("counted_activity", False):
            activity.leave()
