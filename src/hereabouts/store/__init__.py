"""Stores: the embedded DuckDB store (default) behind the :class:`Store` protocol."""

from ._protocol import ImportTransaction, Store
from .duckdb_store import SCHEMA_VERSION, DuckDBStore
from .postgres_store import PostgresStore

__all__ = ["SCHEMA_VERSION", "DuckDBStore", "ImportTransaction", "PostgresStore", "Store"]
