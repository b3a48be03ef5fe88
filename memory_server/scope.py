"""Where a memory lives: an owner (from the API key) and a workspace inside it."""

from __future__ import annotations

from dataclasses import dataclass

# Owners and workspaces never contain '/', so `owner/workspace` names one scope unambiguously.
SEPARATOR = "/"


@dataclass(frozen=True)
class Scope:
    """An owner and one of its workspaces: every read and write is confined to one."""

    owner: str
    workspace: str

    @property
    def partition(self) -> str:
        """The scope as one string (the vector index's partition key)."""
        return f"{self.owner}{SEPARATOR}{self.workspace}"


def partition_sql(owner: str = "owner", workspace: str = "workspace") -> str:
    """The same string computed by SQLite from a row's columns."""
    return f"{owner} || '{SEPARATOR}' || {workspace}"
