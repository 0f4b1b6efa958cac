"""hereabouts: an open, accountable engine for questions about movement."""

from __future__ import annotations

from ._version import __version__
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
    "FormatError",
    "HereaboutsError",
    "InputError",
    "MissingDependencyError",
    "NotFoundError",
    "SchemaError",
    "SchemaVersionError",
    "StoreError",
    "UnknownFormatError",
    "UnsafeInputError",
    "__version__",
]
