"""`gunicorn -c gunicorn.conf.py` from a checkout (what `make run` runs): the package's settings."""

from memory_server.serving.gunicorn_config import *  # noqa: F403
