"""The app factory: `create_app()` wires settings, storage, the model, the two APIs and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

import health
import memories_api
import memory_management_api
from api_keys import KeyStore
from app_services import Services
from auth import authenticate
from cli import keys_cli
from database import Database
from embeddings import get_embedder
from errors import register_error_handlers
from memory_service import MemoryService
from memory_store import MemoryStore
from rate_limits import init_rate_limits
from settings import load_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then `MEMORY_API_*` variables, then `config` (tests) last.

    The schema is migrated here; the model is not loaded (see `MemoryService.prepare`), so
    creating the app before a fork is safe.
    """
    app = Flask(__name__)
    app.config.from_mapping(load_settings())
    if config:
        app.config.from_mapping(config)
    app.json.sort_keys = False  # keep `success` before `data`, `error` before `message`
    app.json.ensure_ascii = False

    db = Database(app.config["DATABASE"])
    db.migrate()
    store = MemoryStore(db)
    app.extensions["memory_api"] = Services(
        db=db,
        keys=KeyStore(db),
        memories=MemoryService(store, get_embedder(app.config["EMBEDDING_MODEL"])),
    )

    register_error_handlers(app)
    # Order matters: authenticate before the limiter counts, so a 401 costs no quota.
    app.before_request(authenticate)
    init_rate_limits(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(memories_api.bp)
    app.register_blueprint(memory_management_api.bp)
    app.cli.add_command(keys_cli)
    return app
