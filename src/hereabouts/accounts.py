"""Users, workspaces, roles, tokens and share links: who may see and send what.

A **workspace** holds entities (people, vehicles, assets) and the devices that report for them; its
**members** are users with a role:

=========  ==========================================================================================
role       may
=========  ==========================================================================================
viewer     see the workspace's entities, latest positions, stays, places and trips
analyst    also ask questions, export data, read profiles and manage geofences
owner      also add members, devices (ingest tokens), API tokens and share links, and read the audit log
=========  ==========================================================================================

Every user gets a personal workspace of their own name, where they are owner. Nothing is shared across
workspaces: every data query the server makes is limited to the caller's workspace's entities.

**Tokens** are random (``secrets.token_urlsafe``, 256 bits) and kept only as SHA-256 hashes: the
plain token is shown once, when made, and cannot be recovered. Kinds: ``ingest`` (one device sends
fixes; the device is fixed by the token), ``api`` (a user's access to the REST API, with the user's
role in each workspace) and ``share`` (read-only access to one entity, over one period or live only,
until it expires). Tokens can be revoked; a revoked or expired token is refused. Passwords are
hashed with scrypt (n=2**14, r=8, p=1) and a per-user salt.

The tables live in the same database as the data (DuckDB file or PostgreSQL schema) and are created on
first use.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .model.errors import InputError

ROLES = ("viewer", "analyst", "owner")
#: seconds an ingest token's lookup is reused
GRANT_CACHE_S = 2.0
_RANK = {r: i for i, r in enumerate(ROLES)}
TOKEN_KINDS = ("ingest", "api", "share")
_PREFIX = {"ingest": "hbi_", "api": "hba_", "share": "hbs_"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

_DDL = [
    """CREATE TABLE IF NOT EXISTS acct_users (
        name VARCHAR PRIMARY KEY,
        password_hash VARCHAR NOT NULL,
        created TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS acct_workspaces (
        name VARCHAR PRIMARY KEY,
        created TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS acct_members (
        workspace VARCHAR NOT NULL,
        username VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        PRIMARY KEY (workspace, username)
    )""",
    """CREATE TABLE IF NOT EXISTS acct_entities (
        entity VARCHAR PRIMARY KEY,
        workspace VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS acct_tokens (
        token_hash VARCHAR PRIMARY KEY,
        token_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        workspace VARCHAR NOT NULL,
        username VARCHAR,
        device VARCHAR,
        entity VARCHAR,
        live_only BOOLEAN NOT NULL DEFAULT FALSE,
        period_start TIMESTAMPTZ,
        period_end TIMESTAMPTZ,
        label VARCHAR,
        created TIMESTAMPTZ NOT NULL,
        expires TIMESTAMPTZ,
        revoked TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS acct_geofences (
        id VARCHAR PRIMARY KEY,
        workspace VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        lat DOUBLE PRECISION NOT NULL,
        lon DOUBLE PRECISION NOT NULL,
        radius_m DOUBLE PRECISION NOT NULL,
        webhook VARCHAR,
        created TIMESTAMPTZ NOT NULL
    )""",
]


def _now() -> datetime:
    return datetime.now(UTC)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>`` for ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, _digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(hash_password(password, salt=bytes.fromhex(salt_hex)), stored)


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value or ""):
        raise InputError(
            f"{what} {value!r} is not a valid name",
            hint="use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit",
        )
    return value


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user with roles per workspace, or a share link's narrow grant."""

    kind: str  # "user" | "share"
    username: str | None
    roles: dict[str, str]  # workspace -> role
    token_id: str | None = None
    # share links only
    entity: str | None = None
    live_only: bool = False
    period_start: datetime | None = None
    period_end: datetime | None = None
    expires: datetime | None = None

    def role_in(self, workspace: str) -> str | None:
        return self.roles.get(workspace)

    def can(self, workspace: str, role: str) -> bool:
        have = self.roles.get(workspace)
        return have is not None and _RANK[have] >= _RANK[role]

    @property
    def actor(self) -> str:
        return self.username if self.username else f"share:{self.token_id}"


@dataclass(frozen=True)
class IngestGrant:
    """What an ingest token allows: one device of one workspace."""

    device: str
    workspace: str
    token_id: str


class Accounts:
    """The account tables of a database (see the module documentation)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._pg = hasattr(store, "dsn")
        self._local = threading.Lock()
        # ingest token -> (grant, until): each request of a device looks its token up; revocations in
        # this process clear it, other processes' within GRANT_CACHE_S
        self._grants: dict[str, tuple[IngestGrant | None, float]] = {}
        with self._tx() as q:
            for ddl in _DDL:
                q(ddl)

    # ------------------------------------------------------------ SQL plumbing
    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A transaction; yields ``q(sql, params) -> rows`` (SQL written with ``?`` placeholders)."""
        if self._pg:
            conn = self.store.connection() if hasattr(self.store, "connection") else None
            if conn is None:  # pragma: no cover - depends on the store
                raise InputError("this PostgreSQL store gives no connection for the account tables")
            with conn as c, c.transaction():

                def q_pg(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                    cur = c.execute(sql.replace("?", "%s"), list(params))
                    return list(cur.fetchall()) if cur.description else []

                yield q_pg
            return
        lock = getattr(self.store, "_lock", self._local)
        con = self.store.con
        with lock:
            con.execute("BEGIN TRANSACTION")
            try:

                def q(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                    return list(con.execute(sql, list(params)).fetchall())

                yield q
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------ users and workspaces
    def add_user(self, name: str, password: str) -> None:
        """A new user (and their personal workspace, where they are owner)."""
        _check_name(name, "user name")
        if len(password) < 8:
            raise InputError("the password is too short", hint="use at least 8 characters")
        with self._tx() as q:
            if q("SELECT 1 FROM acct_users WHERE name = ?", [name]):
                raise InputError(f"a user {name!r} already exists")
            if q("SELECT 1 FROM acct_workspaces WHERE name = ?", [name]):
                raise InputError(f"a workspace {name!r} already exists; choose another user name")
            q("INSERT INTO acct_users VALUES (?, ?, ?)", [name, hash_password(password), _now()])
            q("INSERT INTO acct_workspaces VALUES (?, ?)", [name, _now()])
            q("INSERT INTO acct_members VALUES (?, ?, 'owner')", [name, name])

    def users(self) -> list[str]:
        with self._tx() as q:
            return [r[0] for r in q("SELECT name FROM acct_users ORDER BY name")]

    def authenticate(self, name: str, password: str) -> Principal | None:
        """The user's principal when the password matches, else None."""
        with self._tx() as q:
            rows = q("SELECT password_hash FROM acct_users WHERE name = ?", [name])
        if not rows or not check_password(password, rows[0][0]):
            return None
        return self._user_principal(name, None)

    def add_workspace(self, name: str, owner: str) -> None:
        _check_name(name, "workspace name")
        with self._tx() as q:
            if not q("SELECT 1 FROM acct_users WHERE name = ?", [owner]):
                raise InputError(f"no user {owner!r}")
            if q("SELECT 1 FROM acct_workspaces WHERE name = ?", [name]):
                raise InputError(f"a workspace {name!r} already exists")
            q("INSERT INTO acct_workspaces VALUES (?, ?)", [name, _now()])
            q("INSERT INTO acct_members VALUES (?, ?, 'owner')", [name, owner])

    def set_member(self, workspace: str, username: str, role: str | None) -> None:
        """Give ``username`` ``role`` in ``workspace`` (None removes them); a workspace keeps an owner."""
        if role is not None and role not in ROLES:
            raise InputError(f"role {role!r} is not known", hint=f"expected one of {', '.join(ROLES)}")
        with self._tx() as q:
            if not q("SELECT 1 FROM acct_workspaces WHERE name = ?", [workspace]):
                raise InputError(f"no workspace {workspace!r}")
            if not q("SELECT 1 FROM acct_users WHERE name = ?", [username]):
                raise InputError(f"no user {username!r}")
            q("DELETE FROM acct_members WHERE workspace = ? AND username = ?", [workspace, username])
            if role is not None:
                q("INSERT INTO acct_members VALUES (?, ?, ?)", [workspace, username, role])
            if not q("SELECT 1 FROM acct_members WHERE workspace = ? AND role = 'owner'", [workspace]):
                raise InputError(
                    f"workspace {workspace!r} would have no owner", hint="add another owner first"
                )

    def members(self, workspace: str) -> list[dict[str, str]]:
        with self._tx() as q:
            rows = q(
                "SELECT username, role FROM acct_members WHERE workspace = ? ORDER BY username", [workspace]
            )
        return [{"user": u, "role": r} for u, r in rows]

    def workspaces_of(self, username: str) -> dict[str, str]:
        with self._tx() as q:
            rows = q("SELECT workspace, role FROM acct_members WHERE username = ?", [username])
        return dict(rows)

    # ------------------------------------------------------------ entities
    def claim_entity(self, workspace: str, entity: str) -> None:
        """Put ``entity`` in ``workspace``; an entity belongs to one workspace only."""
        with self._tx() as q:
            rows = q("SELECT workspace FROM acct_entities WHERE entity = ?", [entity])
            if rows and rows[0][0] != workspace:
                raise InputError(f"entity {entity!r} belongs to another workspace")
            if not rows:
                q("INSERT INTO acct_entities VALUES (?, ?)", [entity, workspace])

    def entities_of(self, workspace: str) -> list[str]:
        with self._tx() as q:
            return [
                r[0]
                for r in q(
                    "SELECT entity FROM acct_entities WHERE workspace = ? ORDER BY entity", [workspace]
                )
            ]

    def workspace_of_entity(self, entity: str) -> str | None:
        with self._tx() as q:
            rows = q("SELECT workspace FROM acct_entities WHERE entity = ?", [entity])
        return rows[0][0] if rows else None

    # ------------------------------------------------------------ tokens
    def _new_token(self, q: Any, kind: str, workspace: str, **cols: Any) -> tuple[str, str]:
        token = _PREFIX[kind] + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        q(
            "INSERT INTO acct_tokens (token_hash, token_id, kind, workspace, username, device, entity, live_only,"
            " period_start, period_end, label, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                _hash_token(token),
                token_id,
                kind,
                workspace,
                cols.get("username"),
                cols.get("device"),
                cols.get("entity"),
                bool(cols.get("live_only", False)),
                cols.get("period_start"),
                cols.get("period_end"),
                cols.get("label"),
                _now(),
                cols.get("expires"),
            ],
        )
        return token, token_id

    def add_device(self, username: str, device: str, *, workspace: str | None = None) -> tuple[str, str]:
        """Register ``device`` (stored as ``username/device``) in ``workspace`` (default: the user's own)
        with an entity of the same name; returns ``(ingest token, full device name)``. The token is
        shown once."""
        _check_name(device, "device name")
        ws = workspace or username
        full = f"{username}/{device}"
        with self._tx() as q:
            role = q("SELECT role FROM acct_members WHERE workspace = ? AND username = ?", [ws, username])
            if not role:
                raise InputError(f"user {username!r} is not a member of workspace {ws!r}")
            if role[0][0] != "owner":
                raise InputError(f"only an owner of {ws!r} can add devices")
            if q(
                "SELECT 1 FROM acct_tokens WHERE kind = 'ingest' AND device = ? AND revoked IS NULL", [full]
            ):
                raise InputError(
                    f"device {full!r} already has an ingest token",
                    hint="revoke it first (`hereabouts device revoke`) to issue a new one",
                )
            rows = q("SELECT workspace FROM acct_entities WHERE entity = ?", [full])
            if rows and rows[0][0] != ws:
                raise InputError(f"device {full!r} belongs to another workspace")
            if not rows:
                q("INSERT INTO acct_entities VALUES (?, ?)", [full, ws])
            token, _tid = self._new_token(q, "ingest", ws, username=username, device=full, label=device)
        return token, full

    def add_api_token(
        self, username: str, *, label: str | None = None, expires: datetime | None = None
    ) -> str:
        with self._tx() as q:
            if not q("SELECT 1 FROM acct_users WHERE name = ?", [username]):
                raise InputError(f"no user {username!r}")
            token, _tid = self._new_token(q, "api", username, username=username, label=label, expires=expires)
        return token

    def add_share(
        self,
        workspace: str,
        entity: str,
        *,
        created_by: str,
        expires: datetime,
        live_only: bool = False,
        period_start: datetime | None = None,
        period_end: datetime | None = None,
        label: str | None = None,
    ) -> tuple[str, str]:
        """A share link for one ``entity``: live positions only, or its history within the period;
        returns ``(token, token id)``."""
        if expires <= _now():
            raise InputError("a share link must expire in the future", hint="give an expiry time after now")
        if not live_only and (period_start is None or period_end is None or period_end <= period_start):
            raise InputError("a history share needs a period (start before end)", hint="or make it live-only")
        with self._tx() as q:
            rows = q("SELECT workspace FROM acct_entities WHERE entity = ?", [entity])
            if not rows or rows[0][0] != workspace:
                raise InputError(f"no entity {entity!r} in workspace {workspace!r}")
            return self._new_token(
                q,
                "share",
                workspace,
                username=created_by,
                entity=entity,
                live_only=live_only,
                period_start=period_start,
                period_end=period_end,
                label=label,
                expires=expires,
            )

    def tokens(self, workspace: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Token metadata (never the tokens) of ``workspace``."""
        sql = (
            "SELECT token_id, kind, username, device, entity, live_only, period_start, period_end, label,"
            " created, expires, revoked FROM acct_tokens WHERE workspace = ?"
        )
        params: list[Any] = [workspace]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        with self._tx() as q:
            rows = q(sql + " ORDER BY created, token_id", params)
        keys = ("id", "kind", "user", "device", "entity", "live_only", "period_start", "period_end", "label",
                "created", "expires", "revoked")  # fmt: skip
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def revoke(self, workspace: str, token_id: str) -> bool:
        """Revoke a token of ``workspace`` by id; False when there is no such live token."""
        self._grants.clear()
        with self._tx() as q:
            rows = q(
                "SELECT 1 FROM acct_tokens WHERE workspace = ? AND token_id = ? AND revoked IS NULL",
                [workspace, token_id],
            )
            if rows:
                q(
                    "UPDATE acct_tokens SET revoked = ? WHERE workspace = ? AND token_id = ?",
                    [_now(), workspace, token_id],
                )
        return bool(rows)

    def revoke_device(self, device: str) -> bool:
        self._grants.clear()
        with self._tx() as q:
            rows = q(
                "SELECT 1 FROM acct_tokens WHERE kind = 'ingest' AND device = ? AND revoked IS NULL", [device]
            )
            if rows:
                q("UPDATE acct_tokens SET revoked = ? WHERE kind = 'ingest' AND device = ?", [_now(), device])
        return bool(rows)

    def _lookup(self, token: str) -> tuple[Any, ...] | None:
        with self._tx() as q:
            rows = q(
                "SELECT token_id, kind, workspace, username, device, entity, live_only, period_start,"
                " period_end, expires, revoked FROM acct_tokens WHERE token_hash = ?",
                [_hash_token(token)],
            )
        if not rows:
            return None
        row = rows[0]
        expires, revoked = row[9], row[10]
        if revoked is not None or (expires is not None and expires <= _now()):
            return None
        return row

    def ingest_grant(self, token: str) -> IngestGrant | None:
        """The device an ingest token sends for, or None (unknown, revoked or another kind)."""
        now = time.monotonic()
        cached = self._grants.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        row = self._lookup(token)
        grant = (
            None
            if row is None or row[1] != "ingest"
            else IngestGrant(device=row[4], workspace=row[2], token_id=row[0])
        )
        if len(self._grants) > 100_000:
            self._grants.clear()
        self._grants[token] = (grant, now + GRANT_CACHE_S)
        return grant

    def principal(self, token: str) -> Principal | None:
        """Who an API or share token acts as, or None (unknown, revoked, expired, or an ingest token)."""
        row = self._lookup(token)
        if row is None:
            return None
        if row[1] == "api":
            return self._user_principal(row[3], row[0])
        if row[1] == "share":
            return Principal(
                kind="share",
                username=None,
                roles={},
                token_id=row[0],
                entity=row[5],
                live_only=bool(row[6]),
                period_start=row[7],
                period_end=row[8],
                expires=row[9],
            )
        return None

    # ------------------------------------------------------------ geofences
    def add_geofence(
        self, workspace: str, name: str, lat: float, lon: float, radius_m: float, webhook: str | None = None
    ) -> str:
        """A circular geofence of ``workspace``; returns its id."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InputError(f"geofence position {lat}, {lon} is not a latitude and longitude")
        if not (1 <= radius_m <= 100_000):
            raise InputError(
                f"geofence radius {radius_m} m is out of range", hint="expected 1 to 100000 metres"
            )
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise InputError(f"webhook {webhook!r} is not an http(s) URL")
        if not name.strip():
            raise InputError("a geofence needs a name")
        gid = "gf-" + secrets.token_hex(5)
        with self._tx() as q:
            q(
                "INSERT INTO acct_geofences VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    gid,
                    workspace,
                    name.strip()[:120],
                    float(lat),
                    float(lon),
                    float(radius_m),
                    webhook,
                    _now(),
                ],
            )
        return gid

    def geofences(self, workspace: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, workspace, name, lat, lon, radius_m, webhook FROM acct_geofences"
        with self._tx() as q:
            rows = (
                q(sql + " WHERE workspace = ? ORDER BY id", [workspace])
                if workspace
                else q(sql + " ORDER BY id")
            )
        keys = ("id", "workspace", "name", "lat", "lon", "radius_m", "webhook")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def remove_geofence(self, workspace: str, gid: str) -> bool:
        with self._tx() as q:
            found = q("SELECT 1 FROM acct_geofences WHERE workspace = ? AND id = ?", [workspace, gid])
            if found:
                q("DELETE FROM acct_geofences WHERE workspace = ? AND id = ?", [workspace, gid])
        return bool(found)

    def _user_principal(self, name: str, token_id: str | None) -> Principal:
        return Principal(kind="user", username=name, roles=self.workspaces_of(name), token_id=token_id)
