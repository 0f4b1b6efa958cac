"""hereabouts: an open, accountable engine for questions about movement."""

from __future__ import annotations

from ._db import Database, ImportResult, open
from ._version import __version__
from ._versions import show_versions
from .model.errors import (
    FormatError,
    HereaboutsError,
    InputError,
    MissingDependencyError,
    NotFoundError,
    SchemaError,
    SchemaVersionError,
    StoreError,
    UnknownFormatError,
    UnsafeInputError,
)

__all__ = [
    "Database",
    "FormatError",
    "HereaboutsError",
    "ImportResult",
    "InputError",
    "MissingDependencyError",
    "NotFoundError",
    "SchemaError",
    "SchemaVersionError",
    "StoreError",
    "UnknownFormatError",
    "UnsafeInputError",
    "__version__",
    "open",
    "show_versions",
]
