"""`flask --app app ...` from a checkout, as documented: the factory lives in `memory_server`."""

from memory_server import create_app

__all__ = ["create_app"]
