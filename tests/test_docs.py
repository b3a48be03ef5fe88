"""The README and docs/ as a user meets them: every command runs, every table matches the code.

Fenced blocks are of three kinds. ```sh and ```bash blocks are commands: they run here, page
by page in one bash session (`set -euo pipefail`) against a real gunicorn server on a temp
database. ```console blocks are commands that cannot run in a test (they start a server that
runs until Ctrl-C, install software, change the host's services): each says why in a
`<!-- not run: ... -->` line just above it, and there are only a few. Every other fence is
output, a file or code (```text, ```json, ```python, ```ini) and holds no command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from network_guard import loopback_only
from receiver import Receiver
from server import ROOT, GunicornServer, request

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
RUN = {"sh", "bash"}
NOT_RUN = {"console"}
NOT_COMMANDS = {"text", "json", "python", "typescript", "ini"}
# Console blocks in all pages together: the exceptions stay exceptions (postgresql.md's two
# act on a database server of the reader's own).
MOST_NOT_RUN = 13
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
REASON = re.compile(r"<!-- not run: (?P<reason>\S.{9,}?) -->\n\Z")
COMMAND_LINE = re.compile(r"^\s*(\$ |curl |memory-server |make |sudo |\.venv/bin/|openssl )")
QUICKSTART_TEXT = "The spare house key is under the blue flowerpot"
BIN = Path(sys.executable).parent  # this venv: memory-server, python, as after `make run`


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    reason: str | None  # the `not run` comment right above it, if any

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, in order."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        reason = REASON.search(before)
        found.append(
            Block(
                page,
                before.count("\n") + 1,
                match.group(1),
                match.group(2),
                reason.group("reason") if reason else None,
            )
        )
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def test_the_docs_exist_and_the_readme_is_a_front_page():
    names = {p.name for p in DOCS.glob("*.md")}
    assert names >= {
        "configuration.md",
        "api.md",
        "webhooks.md",
        "keys-and-quotas.md",
        "operations.md",
        "deployment.md",
        "architecture.md",
        "performance.md",
        "console.md",
    }
    assert len(README.read_text().splitlines()) <= 200


def test_every_link_to_a_file_of_the_repository_resolves():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.exists(), f"{page.relative_to(ROOT)} links to missing {target}"


def test_every_fence_is_a_known_kind():
    for block in ALL_BLOCKS:
        assert block.lang in RUN | NOT_RUN | NOT_COMMANDS, (
            f"{block.where}: fence {block.lang!r}: use sh (run by this test), console (not "
            f"run, with a reason) or text/json/python/ini"
        )


def test_blocks_that_do_not_run_say_why_and_are_few():
    not_run = [b for b in ALL_BLOCKS if b.lang in NOT_RUN]
    for block in not_run:
        assert block.reason, f"{block.where}: a console block needs <!-- not run: why --> above"
    assert len(not_run) <= MOST_NOT_RUN, [b.where for b in not_run]
    for block in ALL_BLOCKS:
        if block.lang in RUN:
            assert not block.reason, f"{block.where}: a run block marked as not run"


def test_output_blocks_hold_no_commands():
    for block in ALL_BLOCKS:
        if block.lang in NOT_COMMANDS - {"python", "typescript"}:
            for line in block.code.splitlines():
                assert not COMMAND_LINE.match(line), f"{block.where}: a command in output: {line}"


def test_the_architecture_table_lists_every_module_of_the_tree():
    text = (DOCS / "architecture.md").read_text()
    listed = set()
    for row in text.splitlines():
        if row.startswith("| `"):
            first_cell = row.split("|")[1]
            listed |= set(re.findall(r"`([\w/.]+\.py)`", first_cell))
    modules = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "memory_server").rglob("*.py")
        if p.name != "__init__.py"
    }
    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(p for p in listed if not (ROOT / p).is_file()) == [], "rows for no module"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    text = (DOCS / "deployment.md").read_text()
    units = re.findall(
        r"^`/etc/systemd/system/([\w.-]+)`:\n\n```ini\n(.*?)^```", text, re.M | re.DOTALL
    )
    names = [name for name, _ in units]
    assert "memory-server.service" in names and len(units) == len(blocks_of(text, "ini"))
    for name, unit in units:
        # The documented install puts the console script in /opt; here it is this venv's.
        unit = unit.replace("/opt/memory-server/bin/memory-server", str(BIN / "memory-server"))
        (tmp_path / name).write_text(unit)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def blocks_of(text: str, lang: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1) == lang]


# ---- the commands, against a real server ------------------------------------------------------

# docs/postgresql.md's commands need a PostgreSQL: they run in the PostgreSQL tier, below.
POSTGRES_PAGE = DOCS / "postgresql.md"
RUN_PAGES = [p for p in PAGES if p != POSTGRES_PAGE and any(b.lang in RUN for b in blocks(p))]
# The 4xx answers each page means to show; any other 4xx (and any 5xx) is a broken command.
EXPECTED_ERRORS = {
    "docs/api.md": Counter({400: 1, 404: 1, 412: 1}),
    "docs/keys-and-quotas.md": Counter({401: 1, 403: 2}),
}
MARK = "::docs-test block {}::"


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("docs-server")
    running = GunicornServer(
        home / "memory.db",
        home / "gunicorn.log",
        MEMORY_API_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",  # webhooks.md's receiver, on loopback
    ).start()
    running.db = home / "memory.db"
    yield running
    running.stop()


def new_key(server, owner: str) -> str:
    """An enterprise key of its own owner, made as the docs make one: `keys create`."""
    result = subprocess.run(
        [BIN / "memory-server", "keys", "create", "--tier", "enterprise", "--owner", owner],
        env=loopback_only.subprocess_env({**base_env(), "MEMORY_API_DB": str(server.db)}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.splitlines()[-1]


def base_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORY_API_")}
    return {**env, "PATH": f"{BIN}:{env.get('PATH', '')}"}


def run_page(
    page: Path, server, receiver, cwd: Path, **extra_env: str
) -> tuple[list[str], list[dict]]:
    """Run a page's command blocks in one bash session; its blocks' outputs and the requests."""
    prelude = [] if page == README else [next(b for b in blocks(README) if b.lang in RUN)]
    script = ["set -euo pipefail"]
    for block in prelude:
        script.append(f"{block.code}\n")  # the quickstart's BASE, API_KEY and field
    runnable = [b for b in blocks(page) if b.lang in RUN]
    for number, block in enumerate(runnable):
        script.append(f"echo '{MARK.format(number)}'; echo '--- {block.where}' >&2\n{block.code}")
    env = {
        **base_env(),
        "MEMORY_API_URL": server.url,
        "MEMORY_API_DB": str(server.db),
        "API_KEY": new_key(server, "docs-" + page.stem.lower()),
        "HOOK_URL": receiver.url,
        **extra_env,
    }
    logged = len(server.log())
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=loopback_only.subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{page.relative_to(ROOT)} failed (exit {result.returncode}).\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    outputs = re.split(r"^::docs-test block \d+::\n", result.stdout, flags=re.MULTILINE)[1:]
    assert len(outputs) == len(runnable)
    time.sleep(0.2)  # the last request's log line
    requests = [
        json.loads(line)
        for line in server.log()[logged:].splitlines()
        if line.startswith('{"method"')
    ]
    return outputs, requests


@pytest.mark.server
@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_commands_of_the_page_run_as_written(page, server, receiver, tmp_path):
    outputs, requests = run_page(page, server, receiver, tmp_path)
    name = str(page.relative_to(ROOT))
    failed = Counter(r["status"] for r in requests if r["status"] >= 400)
    errors = [(r["method"], r["path"], r["status"]) for r in requests if r["status"] >= 400]
    assert failed == EXPECTED_ERRORS.get(name, Counter()), f"{name}: unexpected answers {errors}"
    if page == README:
        # The quickstart ends with a search that finds what it stored.
        assert QUICKSTART_TEXT in outputs[-1]
        assert json.loads(outputs[-1])["results"][0]["text"] == QUICKSTART_TEXT
    if name == "docs/api.md":
        assert any("one memory: mem_" in out for out in outputs)
        assert any(out.split()[-2:] == ["200", "412"] for out in outputs)
    if name == "docs/webhooks.md":
        (event,) = receiver.wait_for(1, event_type="memory.created")
        assert event["data"]["text"] == "The heating is set to 19 degrees at night"
    if name == "docs/operations.md":
        assert "integrity check ok" in outputs[0]
        assert "the server can start on the new model" in outputs[-1]
    if name == "docs/deployment.md":
        assert (tmp_path / "server.pem").is_file() and (tmp_path / "server.key").is_file()


@pytest.mark.server
def test_the_postgresql_page_moves_the_database_as_written(
    server, receiver, tmp_path, postgres_server
):
    """copy-to as the page runs it, then a real server on PostgreSQL with the same keys."""
    pg_url = postgres_server.new_database()
    key = new_key(server, "docs-postgresql")
    auth = {"Authorization": f"Bearer {key}"}
    stored = request("POST", f"{server.url}/api/v1/memory", {"text": QUICKSTART_TEXT}, auth)
    assert stored[0] == 201
    outputs, _ = run_page(POSTGRES_PAGE, server, receiver, tmp_path, PG_URL=pg_url, API_KEY=key)
    assert "Copied into postgresql://" in outputs[0] and "0 updated" in outputs[0]
    source_stats = subprocess.run(
        [BIN / "memory-server", "stats", "--json"],
        env=loopback_only.subprocess_env({**base_env(), "MEMORY_API_DB": str(server.db)}),
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    memories = json.loads(source_stats.stdout)["memories"]
    assert f"Memories    {memories:,} (" in outputs[1]
    with GunicornServer(None, tmp_path / "pg.log", MEMORY_API_DB=pg_url) as moved:
        status, _, found = request(
            "POST",
            f"{moved.url}/api/v1/memory/search",
            {"query": "where is the spare key"},
            auth,
        )
    assert status == 200 and found["results"][0]["text"] == QUICKSTART_TEXT
