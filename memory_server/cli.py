"""The `memory-server` commands: serve, keys, backup, stats, export, import, copy-to, reembed.

The same commands run under `flask --app app ...` in a checkout (the app adds them to its CLI).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from marshmallow import ValidationError

from memory_server import __version__
from memory_server import reembed as reembedding
from memory_server.api.schemas import ImportRecordSchema
from memory_server.api_keys import DEFAULT_OWNER, ApiKey, KeyNotFound
from memory_server.copy_database import copy_everything
from memory_server.embedding.model import ModelLoadError
from memory_server.memory_service import StartupError
from memory_server.services import services
from memory_server.settings import TIERS
from memory_server.storage.database import BackupNotHere
from memory_server.storage.open_database import describe
from memory_server.storage.postgres.url import is_postgres_url
from memory_server.storage.stats import database_stats

keys_cli = AppGroup("keys", help="Create, list and revoke API keys.")


@keys_cli.command("create")
@click.option("--tier", type=click.Choice(TIERS), required=True, help="Hourly quota tier.")
@click.option("--owner", default=DEFAULT_OWNER, show_default=True, help="Whose memories it opens.")
@click.option("--name", help="A label to recognise the key by.")
@click.option("--expires-in-days", type=click.IntRange(min=1), help="Expire after N days.")
@click.option("--read-only", is_flag=True, help="It may read, list and search, never write.")
@click.option(
    "--workspace",
    "workspaces",
    multiple=True,
    metavar="NAME",
    help="A workspace it may use (repeat for several); default: every workspace.",
)
def create_key(
    tier: str,
    owner: str,
    name: str | None,
    expires_in_days: int | None,
    read_only: bool,
    workspaces: tuple[str, ...],
) -> None:
    """Create a key; its plaintext is the last line of output, shown only this once."""
    try:
        new = services().keys.create(
            tier, owner, name, expires_in_days, read_only, workspaces or None
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    key = new.key
    expiry = f", expires {key.expires_at}" if key.expires_at else ""
    click.echo(
        f"Created {key.tier} key {key.id} for owner {key.owner!r}: {key.access}, "
        f"workspaces {_workspaces(key)}{expiry}."
    )
    click.echo("Store it now: it cannot be shown again.", err=True)
    click.echo(new.plaintext)


@keys_cli.command("list")
def list_keys() -> None:
    """List keys (ids and details, never secrets)."""
    keys = services().keys.list()
    if not keys:
        click.echo("No API keys.")
        return
    rows = [("ID", "TIER", "OWNER", "NAME", "ACCESS", "WORKSPACES", "CREATED", "EXPIRES", "STATUS")]
    rows += [
        (k.id, k.tier, k.owner, k.name or "-", k.access, _workspaces(k), k.created_at,
         k.expires_at or "never", k.status)
        for k in keys
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _workspaces(key: ApiKey) -> str:
    """`all`, or the workspaces the key may use: `a,b`."""
    return "all" if key.workspaces is None else ",".join(key.workspaces)


@keys_cli.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke a key at once and for good."""
    try:
        key = services().keys.revoke(key_id)
    except KeyNotFound as exc:
        raise click.ClickException(f"no API key with id {key_id!r} (see `keys list`)") from exc
    click.echo(f"Revoked {key.id} (owner {key.owner!r}, tier {key.tier}).")


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write a consistent snapshot of the database to PATH, safe while the server runs."""
    db = services().db
    if path.resolve() == Path(db.location).resolve():
        raise click.BadParameter("PATH is the live database itself; pick another file")
    started = time.perf_counter()
    try:
        db.backup(path)  # PostgreSQL's refuses first, touching nothing (BackupNotHere)
    except BackupNotHere as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from exc
    click.echo(
        f"Backed up {db.path} to {path}: {path.stat().st_size:,} bytes in "
        f"{time.perf_counter() - started:.1f} s, integrity check ok."
    )


@click.command("stats")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def stats(as_json: bool) -> None:
    """Memories, workspaces, keys, webhooks and size of the database."""
    figures = database_stats(services().db)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    keys, model = figures["keys"], figures["embedding_model"]
    # A SQLite file's size counts its write-ahead log; PostgreSQL's is the database's own.
    size_note = "" if is_postgres_url(services().db.location) else " with its WAL"
    bound = f"{model} ({figures['embedding_dimension']} dimensions)" if model else "not bound yet"
    lines = [
        ("Database", f"{figures['path']} ({figures['bytes']:,} bytes{size_note})"),
        ("Memories", f"{figures['memories']:,} ({figures['chunks']:,} chunk vectors)"),
        ("Expiring", f"{figures['memories_expiring']:,} with an expiry, "
                     f"{figures['memories_expired_unpurged']:,} expired and not purged yet"),
        ("History", f"{figures['history_versions']:,} earlier versions kept"),
        ("Workspaces", f"{figures['workspaces']:,} of {figures['owners']:,} owner(s)"),
        ("Keys", f"{keys['active']:,} active, {keys['revoked_or_expired']:,} revoked or expired"),
        ("Webhooks", f"{figures['webhook_endpoints']:,} endpoint(s), "
                     f"{figures['webhook_deliveries_pending']:,} deliveries pending"),
        ("Model", bound),
    ]  # fmt: skip
    for label, value in lines:
        click.echo(f"{label:<11} {value}")


@click.command("export")
@with_appcontext
@click.option("--owner", help="Only this owner's memories.")
@click.option("--workspace", help="Only memories of workspaces with this name.")
@click.option("--with-embeddings", is_flag=True, help="Add each memory's chunk vectors.")
def export(owner: str | None, workspace: str | None, with_embeddings: bool) -> None:
    """Write memories to stdout as JSON lines: ids, texts, metadata, timestamps."""
    exported = 0
    for record in services().memories.export(owner, workspace, with_embeddings):
        click.echo(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        exported += 1
    click.echo(f"Exported {exported:,} memories.", err=True)


class BadLine(ValueError):
    """A line of an import file that is not a record: its number and why."""

    def __init__(self, number: int, reason: Exception) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number = number


@click.command("import")
@with_appcontext
@click.argument("file", type=click.File("r", encoding="utf-8"))
def import_memories(file: click.utils.LazyFile) -> None:
    """Store the memories of an export (JSON lines, - for stdin); running it twice is safe."""
    schema, totals = ImportRecordSchema(), Counter()

    def records() -> Iterator[dict]:
        for number, line in enumerate(file, start=1):
            if line.strip():
                try:
                    yield schema.load(json.loads(line))
                except (ValueError, ValidationError) as exc:
                    raise BadLine(number, exc) from exc

    try:
        services().memories.import_all(records(), totals)
    except BadLine as bad:
        # import_all imported every line before the bad one: what the message promises.
        raise click.ClickException(
            f"{bad}. The {bad.number - 1:,} lines before it are imported "
            f"({_summary(totals)}); fix it and run again (it skips what is in already)."
        ) from bad
    click.echo(f"Imported {_summary(totals)}.")


def _summary(totals: Counter) -> str:
    done = sum(totals[k] for k in ("created", "updated", "unchanged"))
    return (
        f"{done:,} memories: {totals['created']:,} created, {totals['updated']:,} updated, "
        f"{totals['unchanged']:,} unchanged; {totals['embedded']:,} embedded here"
    )


COPY_PROGRESS_EVERY = 10_000


@click.command("copy-to")
@with_appcontext
@click.argument("target")
def copy_to(target: str) -> None:
    """Copy every memory, key, webhook and version into TARGET (a postgresql:// URL or a path).

    Running it again finishes an interrupted copy; nothing in the source changes.
    """
    from memory_server.app import create_app  # the target's services, as its server has them

    source = services()
    if describe(target) == describe(source.db.location):
        raise click.BadParameter("TARGET is the database being copied; name another one")
    click.echo(f"Copying {describe(source.db.location)} into {describe(target)}...", err=True)
    # The target needs no size limit: MEMORY_API_MAX_DATABASE_BYTES is the source's.
    target_app = create_app({"DATABASE": target, "MAX_DATABASE_BYTES": None})
    copied = target_app.extensions["memory_api"]
    shown = [0]

    def progress(done: int) -> None:
        if done - shown[0] >= COPY_PROGRESS_EVERY:  # a line per 10,000, not per batch
            click.echo(f"  {done:,} memories", err=True)
            shown[0] = done

    try:
        totals = copy_everything(source, copied, progress)
    except StartupError as exc:  # the two databases' vectors come from different models
        raise click.ClickException(str(exc)) from exc
    finally:
        copied.db.close()
    click.echo(
        f"Copied into {describe(target)}: {_summary(totals.memories)}; "
        f"{totals.keys:,} API keys, {totals.webhooks:,} webhook endpoints and "
        f"{totals.topics:,} topics; {totals.versions:,} earlier versions new."
    )


@click.command("reembed")
@with_appcontext
def reembed() -> None:
    """Rebuild every vector with the configured model; resumes where an interrupted run stopped."""
    found = services()
    embedder = found.memories.embedder
    click.echo(f"Loading {embedder.identity} ({embedder.backend})...", err=True)
    try:
        embedder.load()
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    plan = reembedding.plan(found.db, embedder)
    if not plan.needed:
        click.echo(f"Nothing to do: the vectors already come from {embedder.identity}.")
        return
    click.echo(
        f"Re-embedding {plan.total:,} memories: {plan.stored_model} ({plan.stored_dimension})"
        f" -> {plan.target_model} ({plan.target_dimension})"
        + (f", resuming after {plan.done:,}" if plan.done else "")
    )
    with click.progressbar(length=plan.total, label="Embedding", file=sys.stderr) as bar:
        bar.update(plan.done)
        embedded = reembedding.run(found.db, embedder, bar.update)
    click.echo(f"Done: {embedded:,} memories re-embedded; the server can start on the new model.")


@click.command("serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Run the server: gunicorn with the MEMORY_API_* settings; other options go to gunicorn."""
    # This process becomes gunicorn (same PID), reading the package's own config module, so
    # it runs the same from any folder and no gunicorn.conf.py lying around is picked up.
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:" + GUNICORN_CONFIG, *gunicorn_args]
    os.execv(sys.executable, argv)


GUNICORN_CONFIG = "memory_server.serving.gunicorn_config"


def _load_app() -> Flask:
    from memory_server.app import create_app  # here: `serve` and `--help` need no app

    return create_app()


@click.group(help="A self-hosted memory server: store texts, find them again by meaning.")
@click.version_option(__version__, prog_name="memory-server")
@click.pass_context
def main(ctx: click.Context) -> None:
    """The `memory-server` console script."""
    # What `flask --app app` provides: commands marked with_appcontext get the app.
    ctx.obj = ScriptInfo(create_app=_load_app, set_debug_flag=False)


main.add_command(serve)
main.add_command(keys_cli)
main.add_command(backup)
main.add_command(stats)
main.add_command(export)
main.add_command(import_memories)
main.add_command(copy_to)
main.add_command(reembed)
