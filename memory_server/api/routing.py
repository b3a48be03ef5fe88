"""URL converters: which path segments name a memory, or anything (never with a NUL)."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.routing import BaseConverter, Map, UnicodeConverter

from memory_server.api.fields import RESERVED_IDS

_RESERVED = "|".join(re.escape(word) for word in sorted(RESERVED_IDS))


class MemoryIdConverter(BaseConverter):
    """A memory id in a URL: any segment but the words naming sibling endpoints (`stats`...).

    The words are kept out by the rule's own regex, not by the view, so routing answers
    `PUT /api/v1/memory/stats` with 405 and the stats endpoint's `Allow`, as for any other
    method a path does not have, instead of looking up a memory called "stats".
    """

    regex = rf"(?!(?:{_RESERVED})\Z)[^/\x00]+"


class PathSegmentConverter(UnicodeConverter):
    """The default `<name>` of every route: one path segment, never holding a NUL.

    An id with a NUL names nothing (a 404 from routing); PostgreSQL could not even be
    asked, it refuses NUL in any text.
    """

    part_isolating = True

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        # UnicodeConverter builds its regex here ([^/] with the rule's length bounds).
        self.regex = self.regex.replace("[^/]", "[^/\x00]")
