"""The one error tree of hereabouts.

Every error the library raises on purpose derives from :class:`HereaboutsError`::

    HereaboutsError
     ├── InputError                 bad input data or arguments (the user can fix it)
     │    ├── UnknownFormatError     a file whose format could not be recognised
     │    ├── FormatError            a file that claims a format but breaks it
     │    ├── UnsafeInputError       zip-slip entries, XML entity expansion, oversized records
     │    └── SchemaError            a table that lacks required columns or has wrong types
     ├── StoreError                  the store cannot be opened, migrated or written
     │    └── SchemaVersionError     the store was written by a newer hereabouts
     ├── NotFoundError               an entity, device, source or place that does not exist
     └── MissingDependencyError      an optional dependency is not installed

Messages say what was wrong and how to fix it. Errors caused by a lower-level exception are raised
with ``raise ... from exc`` so the cause is kept.
"""

from __future__ import annotations


class HereaboutsError(Exception):
    """Root of every error hereabouts raises on purpose.

    >>> try:
    ...     raise NotFoundError("no entity named 'van 7'", hint="run `hereabouts entities` to list them")
    ... except HereaboutsError as exc:
    ...     print(exc)
    no entity named 'van 7' (hint: run `hereabouts entities` to list them)
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} (hint: {hint})")


class InputError(HereaboutsError, ValueError):
    """Bad input data or arguments; the message names what was expected."""


class UnknownFormatError(InputError):
    """A file whose format could not be recognised from its content or name."""


class FormatError(InputError):
    """A file that claims a format but breaks it (names file, location and what was expected)."""


class UnsafeInputError(InputError):
    """Input refused for safety: zip-slip paths, XML entity expansion, records past the size limit."""


class SchemaError(InputError):
    """A table that lacks required columns or carries the wrong types."""


class StoreError(HereaboutsError):
    """The store cannot be opened, migrated or written."""


class SchemaVersionError(StoreError):
    """The store's schema is newer than this version of hereabouts understands."""


class NotFoundError(HereaboutsError, LookupError):
    """An entity, device, source or place that does not exist."""


class MissingDependencyError(HereaboutsError, ImportError):
    """An optional dependency is missing; the message names the install command."""


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
]
