"""API keys: high-entropy secrets with a recognisable prefix; only their hashes are stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from memory_server.clock import format_timestamp, utc_now
from memory_server.settings import TIERS
from memory_server.storage.database import Connection, Database

DEFAULT_OWNER = "default"
KEY_PREFIX = "msk_"
# Owners and workspaces share one charset; '/' is excluded so a scope partition is unambiguous.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
# msk_<12 hex: public key id>_<43 url-safe chars: 256 random bits>
_KEY_PATTERN = re.compile(r"^msk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})\Z")
_COLUMNS = "id, owner, name, tier, created_at, expires_at, revoked_at, read_only, workspaces"


class KeyNotFound(LookupError):
    """No API key with that id."""


@dataclass(frozen=True)
class ApiKey:
    """An API key's public record (never its secret)."""

    id: str
    owner: str
    name: str | None
    tier: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    # Least privilege: a read-only key changes nothing; `workspaces` None means every one.
    read_only: bool = False
    workspaces: tuple[str, ...] | None = None

    @property
    def access(self) -> str:
        """'read-only' or 'read-write'."""
        return "read-only" if self.read_only else "read-write"

    def may_use(self, workspace: str) -> bool:
        """Whether this key may work in `workspace`."""
        return self.workspaces is None or workspace in self.workspaces

    @property
    def status(self) -> str:
        """'active', 'revoked' or 'expired'."""
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= utc_now():
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewKey:
    """A key just created: the only moment its plaintext exists."""

    key: ApiKey
    plaintext: str


def _hash(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Creates, lists, revokes and checks API keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        tier: str,
        owner: str = DEFAULT_OWNER,
        name: str | None = None,
        expires_in_days: int | None = None,
        read_only: bool = False,
        workspaces: Iterable[str] | None = None,
    ) -> NewKey:
        """Create a key and return it with its plaintext, which is not stored.

        `read_only`: it may read, list and search only; `workspaces`: the only workspaces it
        may use (None: every workspace of its owner).
        """
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}")
        if not NAME_PATTERN.match(owner):
            raise ValueError("owner must be 1-64 characters of A-Z a-z 0-9 _ . : -")
        if expires_in_days is not None and expires_in_days < 1:
            raise ValueError("expires-in-days must be at least 1")
        allowed = None if workspaces is None else _workspaces(workspaces)
        with self.db.transaction() as conn:
            return self._insert(conn, tier, owner, name, expires_in_days, read_only, allowed)

    def create_first_key(self) -> NewKey | None:
        """If the database has no key at all, create an enterprise key for the default owner."""
        with self.db.transaction() as conn:
            # Serialized, so two processes (or hosts) starting together create only one.
            self.db.serialize(conn, "api_keys.first")
            if conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone():
                return None
            return self._insert(conn, "enterprise", DEFAULT_OWNER, "first key", None)

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        rows = self.db.connection().execute(
            f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id"
        )
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key for good; raise KeyNotFound for an unknown id."""
        with self.db.transaction() as conn:
            updated = conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (utc_now(), key_id),
            )
            if updated.rowcount == 0:
                raise KeyNotFound(key_id)
        return next(key for key in self.list() if key.id == key_id)

    def authenticate(self, plaintext: str) -> ApiKey | None:
        """The active key matching this plaintext, or None."""
        match = _KEY_PATTERN.match(plaintext)
        if not match:
            return None
        row = (
            self.db.connection()
            .execute(
                f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE id = ?",
                (f"key_{match.group(1)}",),
            )
            .fetchone()
        )
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(plaintext)):
            return None
        key = _key(tuple(row)[:-1])
        return key if key.status == "active" else None

    @staticmethod
    def _insert(
        conn: Connection,
        tier: str,
        owner: str,
        name: str | None,
        days: int | None,
        read_only: bool = False,
        workspaces: tuple[str, ...] | None = None,
    ) -> NewKey:
        public = secrets.token_hex(6)
        plaintext = f"{KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
        expires_at = None
        if days is not None:
            expires_at = format_timestamp(datetime.now(UTC) + timedelta(days=days))
        key = ApiKey(
            f"key_{public}", owner, name, tier, utc_now(), expires_at, None, read_only, workspaces
        )
        conn.execute(
            "INSERT INTO api_keys (id, secret_hash, owner, name, tier, created_at, expires_at,"
            " revoked_at, read_only, workspaces) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (key.id, _hash(plaintext), owner, name, tier, key.created_at, expires_at,
             int(read_only), None if workspaces is None else json.dumps(list(workspaces))),
        )  # fmt: skip
        return NewKey(key, plaintext)


def _workspaces(names: Iterable[str]) -> tuple[str, ...]:
    """Workspace names checked like X-Workspace-ID, in order, each once; at least one."""
    allowed = tuple(dict.fromkeys(names))
    if not allowed:
        raise ValueError("workspaces must name at least one workspace (or be left out: all)")
    for name in allowed:
        if not NAME_PATTERN.match(name):
            raise ValueError(f"workspace {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return allowed


def _key(row: Any) -> ApiKey:
    """An ApiKey from a row of _COLUMNS."""
    *fields, read_only, workspaces = tuple(row)
    allowed = None if workspaces is None else tuple(json.loads(workspaces))
    return ApiKey(*fields, read_only=bool(read_only), workspaces=allowed)
