"""The store test suite runs against every store: the embedded DuckDB store and PostgreSQL + PostGIS.

PostgreSQL is found at ``HEREABOUTS_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets a fresh schema there, dropped afterwards. When the server cannot be reached the PostgreSQL
tests are skipped, unless ``HEREABOUTS_REQUIRE_POSTGRES=1`` (as in CI), where they fail saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

import hereabouts as hb

PG_URL = os.environ.get("HEREABOUTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

_reachable: str | None = None  # "" when reachable, else why not (checked once per run)


def postgres_problem() -> str:
    """Why PostgreSQL with PostGIS cannot be used for tests ("" when it can)."""
    global _reachable
    if _reachable is None:
        try:
            import psycopg

            with psycopg.connect(PG_URL, connect_timeout=5, autocommit=True) as con:
                avail = con.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchall()
            _reachable = "" if avail else f"PostGIS is not installed for the PostgreSQL at {PG_URL}"
        except Exception as exc:  # ImportError, OperationalError...
            _reachable = f"PostgreSQL is not reachable at {PG_URL}: {str(exc).strip()}"
    return _reachable


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL, or fail it when HEREABOUTS_REQUIRE_POSTGRES=1."""
    problem = postgres_problem()
    if problem:
        if os.environ.get("HEREABOUTS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{problem} (HEREABOUTS_REQUIRE_POSTGRES=1 requires it)", pytrace=False)
        pytest.skip(problem)


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty schema in the test database (dropped after the test)."""
    require_postgres()
    schema = f"hb_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}schema={schema}"
    drop_schema(schema)


@pytest.fixture(params=["duckdb", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_db(store_kind: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], hb.Database]]:
    """Opens (again) the one database of this test, on the store under test; all closed afterwards."""
    target = request.getfixturevalue("pg_url") if store_kind == "postgres" else ":memory:"
    opened: list[hb.Database] = []
    memory: list[hb.Database] = []

    def open_() -> hb.Database:
        if target == ":memory:":  # an in-memory DuckDB lives as long as its connection: one per test
            if not memory:
                memory.append(hb.open(target))
            return memory[0]
        db = hb.open(target)
        opened.append(db)
        return db

    yield open_
    for db in opened + memory:
        db.close()


@pytest.fixture
def db(open_db: Callable[[], hb.Database]) -> hb.Database:
    """An empty database on the store under test (DuckDB in memory, or a fresh PostgreSQL schema)."""
    return open_db()
