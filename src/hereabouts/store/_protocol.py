"""The Store protocol: what every store (embedded DuckDB, server PostgreSQL) provides.

The library, the CLI and the server use only these methods, so stores are interchangeable and one test
suite runs against each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa


class ImportTransaction(Protocol):
    """One import, all or nothing: rows written through it become visible only on commit."""

    source_id: int

    def write(self, tier: str, table: pa.Table) -> int:
        """Write a batch of ``tier`` rows (fix, scan, reported_stay, reported_trip, event, reject).
        Rows equal to stored ones (same device, time and position) are skipped; returns how many were new."""
        ...

    def finish(self, counts: Mapping[str, int], kind: str) -> None:
        """Record the source's counts and format; the caller then leaves the context to commit."""
        ...


@runtime_checkable
class Store(Protocol):
    """Persistent storage of every tier."""

    path: str

    def schema_version(self) -> int: ...

    def begin_import(
        self,
        *,
        origin: str,
        checksum: str | None,
        options: Mapping[str, Any],
        entity: str | None = None,
        bulk: bool = True,
    ) -> AbstractContextManager[ImportTransaction]: ...

    def find_source(self, checksum: str, options: Mapping[str, Any]) -> int | None: ...

    def sources(self) -> pa.Table: ...

    def entities(self) -> pa.Table: ...

    def devices(self) -> pa.Table: ...

    def fixes(
        self,
        *,
        entity: str | None = None,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table: ...

    def iter_fixes(
        self,
        *,
        entity: str | None = None,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]: ...

    def rejects(self, *, source_id: int | None = None, limit: int | None = None) -> pa.Table: ...

    def table(self, tier: str, *, entity: str | None = None) -> pa.Table: ...

    def count(self, tier: str) -> int: ...

    def assign_device(self, device: str, entity: str) -> None: ...

    def close(self) -> None: ...
