"""The tree shows the layers, and the imports keep to them: below the API nothing knows Flask."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "memory_server"
# Storage, search, the model, webhooks and the services: no Flask, no HTTP layer.
BELOW_THE_API = [
    *sorted((PACKAGE / "storage").glob("*.py")),
    *sorted((PACKAGE / "storage" / "postgres").glob("*.py")),
    *sorted((PACKAGE / "search").glob("*.py")),
    *sorted((PACKAGE / "embedding").glob("*.py")),
    *sorted((PACKAGE / "webhooks").glob("*.py")),
    *(PACKAGE / name for name in ("memory_service.py", "reembed.py", "api_keys.py", "scope.py",
                                  "clock.py", "settings.py")),
]  # fmt: skip


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", BELOW_THE_API, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_below_the_api_import_no_flask_and_no_api_module(path):
    assert path.is_file()
    bad = {
        name
        for name in _imports(path)
        if name.split(".")[0] in ("flask", "werkzeug", "marshmallow")
        or name in ("memory_server.api", "memory_server.serving", "memory_server.app")
        or name.startswith(("memory_server.api.", "memory_server.serving."))
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"
