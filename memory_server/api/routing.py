"""URL converters: which path segments name a memory."""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter

from memory_server.api.fields import RESERVED_IDS

_RESERVED = "|".join(re.escape(word) for word in sorted(RESERVED_IDS))


class MemoryIdConverter(BaseConverter):
    """A memory id in a URL: any segment but the words naming sibling endpoints (`stats`...).

    The words are kept out by the rule's own regex, not by the view, so routing answers
    `PUT /api/v1/memory/stats` with 405 and the stats endpoint's `Allow`, as for any other
    method a path does not have, instead of looking up a memory called "stats".
    """

    regex = rf"(?!(?:{_RESERVED})\Z)[^/]+"
