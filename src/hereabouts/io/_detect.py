"""Choosing a reader for a stream by its content (and, as a tie-breaker, its name)."""

from __future__ import annotations

from ._base import REGISTRY, Format, formats

#: A sniff score at or above this is a confident match.
THRESHOLD = 0.5


def detect(head: bytes, name: str) -> Format | None:
    """The best-scoring format for a stream whose first bytes are ``head``; None if none fits."""
    best: tuple[float, Format] | None = None
    lname = name.lower()
    for fmt in formats():
        try:
            score = fmt.sniff(head, lname)
        except Exception:  # a sniffer must never break detection of other formats
            score = 0.0
        if score >= THRESHOLD and (best is None or score > best[0]):
            best = (score, fmt)
    return best[1] if best else None


def get(name: str) -> Format:
    """The format called ``name`` (or one of its aliases); InputError listing the valid names."""
    from ..model.errors import InputError

    formats()
    key = name.lower().replace("-", "_")
    for fmt in REGISTRY.values():
        if key == fmt.name or key in fmt.aliases:
            return fmt
    valid = ", ".join(sorted(REGISTRY))
    raise InputError(f"unknown format {name!r}; expected one of: {valid}")


def describe_all() -> str:
    """The names of every readable format, for error messages (``hereabouts formats`` describes them)."""
    return ", ".join(sorted(f.name for f in formats())) + " (see `hereabouts formats`)"
