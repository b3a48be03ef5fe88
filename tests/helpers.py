"""Small helpers shared by the tests."""

from __future__ import annotations


def headers(key: str, workspace: str | None = None) -> dict[str, str]:
    """Authorization (and optionally X-Workspace-ID) headers for a request."""
    found = {"Authorization": f"Bearer {key}"}
    if workspace is not None:
        found["X-Workspace-ID"] = workspace
    return found
