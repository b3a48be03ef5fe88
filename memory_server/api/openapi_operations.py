"""What each view tells the OpenAPI document: its body, query, answers and errors (no apispec)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import Schema

View = TypeVar("View", bound=Callable[..., Any])
SchemaLike = type[Schema] | dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One documented answer: what it means, its JSON body and the headers it carries."""

    description: str
    body: SchemaLike | None = None
    headers: tuple[str, ...] = ()
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """The OpenAPI facts of one view; summary and description come from its docstring."""

    replies: Mapping[int, Reply]
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    errors: tuple[int, ...] = ()
    conditional: bool = False
    if_match: bool = False


def documented(
    replies: Mapping[int, Reply],
    *,
    body: type[Schema] | None = None,
    query: type[Schema] | None = None,
    errors: Iterable[int] = (),
    conditional: bool = False,
    if_match: bool = False,
) -> Callable[[View], View]:
    """Attach the operation's facts to a view; `openapi_spec` reads them from the URL map.

    `body` and `query` name the schemas the view validates with; `errors` lists the
    statuses particular to this operation (authentication, quota and body errors are added
    wherever they apply). `conditional`: a GET answering If-None-Match with 304; `if_match`:
    a change guarded by If-Match (412 when the version is not the current one).
    """

    def attach(view: View) -> View:
        view.openapi = Operation(  # type: ignore[attr-defined]
            dict(replies), body, query, tuple(errors), conditional, if_match
        )
        return view

    return attach
