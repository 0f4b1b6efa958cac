"""Readers and writers of location formats.

Readers are detected by content (:func:`detect`), stream with bounded memory, and push records into a
:class:`Sink` that validates them in one place. :func:`read` reads a path into memory; imports into a
store go through :meth:`hereabouts.Database.import_`.
"""

from ._base import REGISTRY, Counts, Format, ReadContext, ReadOptions, Sink, formats, register
from ._detect import detect, get
from ._read import ReadResult, read

__all__ = [
    "REGISTRY",
    "Counts",
    "Format",
    "ReadContext",
    "ReadOptions",
    "ReadResult",
    "Sink",
    "detect",
    "formats",
    "get",
    "read",
    "register",
]
