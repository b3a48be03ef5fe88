"""gunicorn settings and hooks, read from the same MEMORY_API_* variables as the app.

`memory-server serve` runs gunicorn with `-c python:memory_server.serving.gunicorn_config`;
`make run` with the checkout's gunicorn.conf.py, which imports this.
"""

import gc
import os
import shutil
import ssl
import sys

from gunicorn.arbiter import Arbiter

from memory_server.api.quotas import is_per_process
from memory_server.settings import SettingsError, load_settings

# Only these names are gunicorn's: gunicorn.conf.py in a checkout star-imports this module.
__all__ = [
    "accesslog",
    "bind",
    "control_socket_disable",
    "keepalive",
    "loglevel",
    "on_starting",
    "post_worker_init",
    "preload_app",
    "timeout",
    "worker_class",
    "worker_exit",
    "workers",
    "wsgi_app",
]  # fmt: skip

try:
    _settings = load_settings()
except SettingsError as exc:
    sys.exit(f"Cannot start: {exc}")  # one line, not a traceback of the config file

# gunicorn's asyncio worker reads whole requests without a thread; then one of the app's
# MEMORY_API_THREADS threads runs Flask (serving/front.py). Slow clients cost no thread.
wsgi_app = "memory_server.serving.front:create_front()"
worker_class = "memory_server.serving.front.FrontWorker"
bind = _settings["BIND"]
workers = _settings["WORKERS"]
# TLS: with both files the server speaks only HTTPS (one alone is refused in on_starting).
if _settings["TLS_CERT"] and _settings["TLS_KEY"]:
    certfile = _settings["TLS_CERT"]
    keyfile = _settings["TLS_KEY"]
    __all__ += ["certfile", "keyfile"]
# Kept-alive connections idle this long are closed; a new connection has
# MEMORY_API_CLIENT_TIMEOUT for its request head, then again for its body.
keepalive = 5
loglevel = _settings["LOG_LEVEL"]
# The app writes one JSON line per request itself (api/request_log.py): it knows the key id.
accesslog = None
# Loading the model happens in post_worker_init and can take a while on a cold disk.
timeout = 120
# gunicorn 25+ opens one control socket per user ($HOME/.gunicorn/gunicorn.ctl): two servers
# would fight over it, and it can change the worker count behind the quota check's back.
control_socket_disable = True
# Never import the app before the fork: no model and no database connection in the master.
preload_app = False


def on_starting(server):
    """In the master: refuse a database that cannot be used, or quotas that would multiply.

    The schema is migrated here, once, before any worker starts (a long migration would
    otherwise keep the other workers waiting for the write lock); the connection is closed
    before the fork.
    """
    from memory_server.storage.database import DatabaseUnusable
    from memory_server.storage.open_database import describe, open_database

    if bool(_settings["TLS_CERT"]) != bool(_settings["TLS_KEY"]):
        server.log.error(
            "Cannot start: set both MEMORY_API_TLS_CERT and MEMORY_API_TLS_KEY (the "
            "certificate and its private key), or neither for plain HTTP"
        )
        sys.exit(1)
    if _settings["TLS_CERT"]:
        # Loaded here too, so a wrong or unreadable pair stops the server at once instead of
        # failing in each worker (which then refuses to serve at all: serving/front.py).
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                _settings["TLS_CERT"], _settings["TLS_KEY"]
            )
        except (OSError, ssl.SSLError) as exc:
            server.log.error(
                "Cannot start: MEMORY_API_TLS_CERT %s and MEMORY_API_TLS_KEY %s cannot be used "
                "together: %s",
                _settings["TLS_CERT"], _settings["TLS_KEY"], exc,
            )  # fmt: skip
            sys.exit(1)
    server.log.info(
        "Database %s; model cache %s (MEMORY_API_DB, MEMORY_API_MODEL_CACHE)",
        describe(_settings["DATABASE"]),
        os.path.abspath(_settings["MODEL_CACHE"]),
    )
    try:
        database = open_database(_settings["DATABASE"], _settings["MAX_DATABASE_BYTES"])
        database.migrate()
        database.close()  # nothing open across the fork
    except DatabaseUnusable as exc:
        server.log.error("Cannot start: %s", exc)
        sys.exit(1)
    storage = _settings["RATELIMIT_STORAGE"]
    count = server.cfg.workers  # the effective value, even if -w overrode the setting
    if count > 1 and is_per_process(storage):
        server.log.error(
            "Refusing to start: %d workers with MEMORY_API_RATELIMIT_STORAGE=%s would count "
            "every key's quota separately in each worker (up to %dx the promised quota). "
            "Set MEMORY_API_RATELIMIT_STORAGE=redis://HOST:6379/0 to share exact counts, or "
            "MEMORY_API_WORKERS=1 (raise MEMORY_API_THREADS for more concurrency).",
            count,
            storage,
            count,
        )
        sys.exit(1)


def post_worker_init(worker):
    """In each worker, after the fork: model, first key, webhook dispatcher, background jobs."""
    from memory_server.api.request_log import log_to_stderr
    from memory_server.embedding.model import ModelLoadError
    from memory_server.memory_service import StartupError

    log_to_stderr(_settings["LOG_LEVEL"])
    app = worker.asgi.wsgi_app  # the Flask app behind the front
    found = app.extensions["memory_api"]
    try:
        found.memories.prepare()
    except (StartupError, ModelLoadError) as exc:
        worker.log.error("Cannot start: %s", exc)
        # A worker that fails to boot makes gunicorn stop at once instead of respawning it.
        sys.exit(Arbiter.WORKER_BOOT_ERROR)
    new = found.keys.create_first_key()  # one worker wins: the check runs under the write lock
    if new is not None:
        rule = "=" * 72
        worker.log.warning(
            "\n%s\nNo API keys existed, so this enterprise key was created for owner %r.\n"
            "Save it now: it is shown only this once.\n\n    %s\n\n"
            "More keys: %s keys create --tier free\n%s",
            rule,
            new.key.owner,
            new.plaintext,
            _command(),
            rule,
        )
    # Everything loaded so far (torch, transformers, the model: millions of objects) lives as
    # long as the worker: freezing it keeps the garbage collector from walking it again at
    # every full collection, which paused requests for 200-250 ms each time (measured).
    gc.freeze()
    found.dispatcher.start()
    found.purger.start()
    found.contextualizer.start()
    if not app.extensions["rate_limiter"].storage.check():
        worker.log.warning(
            "Rate limit storage %s is unreachable: API requests get 503 until it is back.",
            _settings["RATELIMIT_STORAGE"],
        )


def worker_exit(server, worker):
    """Stop delivering webhooks; an attempt cut short is retried by whoever holds the lease next."""
    front = getattr(worker, "asgi", None)  # absent when the worker failed to boot
    if front is not None:
        found = front.wsgi_app.extensions["memory_api"]
        found.contextualizer.stop()
        found.purger.stop()
        found.dispatcher.stop()


def _command() -> str:
    """How to run `memory-server` from here: the one beside this Python if not on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "memory-server")
    if shutil.which("memory-server") == beside or not os.path.exists(beside):
        return "memory-server"
    return os.path.relpath(beside) if not os.path.relpath(beside).startswith("..") else beside
