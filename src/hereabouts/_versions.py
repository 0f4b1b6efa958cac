"""``show_versions()``: what to paste into a bug report."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

_PACKAGES = ("numpy", "pyarrow", "duckdb", "numba", "ijson", "tzdata", "fitdecode", "typer", "rich")


def versions() -> dict[str, str]:
    from ._version import __version__

    out = {
        "hereabouts": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def show_versions() -> None:
    """Print the versions of hereabouts, Python and its dependencies (for bug reports)."""
    for k, v in versions().items():
        print(f"{k:>12}: {v}")
