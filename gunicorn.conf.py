"""gunicorn settings for `make run`, read from the same MEMORY_API_* variables as the app."""

import sys

from gunicorn.arbiter import Arbiter

from settings import load_settings

_settings = load_settings()

wsgi_app = "app:create_app()"
bind = _settings["BIND"]
workers = _settings["WORKERS"]
threads = _settings["THREADS"]
worker_class = "gthread"
loglevel = _settings["LOG_LEVEL"]
accesslog = "-"
# Loading the model happens in post_worker_init and can take a while on a cold disk.
timeout = 120
# gunicorn 25+ opens one control socket per user ($HOME/.gunicorn/gunicorn.ctl): two servers
# would fight over it, and it can change the worker count behind the settings' back.
control_socket_disable = True
# Never import the app (and so never open the database or load torch) before the fork.
preload_app = False


def on_starting(server):
    """In the master, before any fork: migrate the schema and create the first key if none."""
    from api_keys import KeyStore
    from database import Database

    db = Database(_settings["DATABASE"])
    db.migrate()
    try:
        new = KeyStore(db).create_first_key()
    finally:
        db.close()  # no connection may cross the fork
    if new is not None:
        rule = "=" * 72
        server.log.warning(
            "\n%s\nNo API keys existed, so this enterprise key was created for owner %r.\n"
            "Save it now: it is shown only this once.\n\n    %s\n\n"
            "More keys: .venv/bin/flask --app app keys create --tier free\n%s",
            rule,
            new.key.owner,
            new.plaintext,
            rule,
        )


def post_worker_init(worker):
    """In each worker, after the fork: load the model and check it matches the database."""
    from embeddings import ModelLoadError
    from memory_service import StartupError

    try:
        worker.wsgi.extensions["memory_api"].memories.prepare()
    except (StartupError, ModelLoadError) as exc:
        worker.log.error("Cannot start: %s", exc)
        # A worker that fails to boot makes gunicorn stop at once instead of respawning it.
        sys.exit(Arbiter.WORKER_BOOT_ERROR)
