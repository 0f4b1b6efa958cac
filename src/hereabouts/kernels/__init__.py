"""Compiled hot loops over NumPy arrays, each with a pure-Python reference in :mod:`.reference`.

Kernels are compiled with numba on first call. Compiled code is cached on disk (``cache=True``) so
later processes skip compilation; numba keeps the cache next to the source when that folder is
writable and in the user's cache folder otherwise (``NUMBA_CACHE_DIR`` overrides both). When no cache
location can be used at all — a read-only install with no writable home — :func:`jit` falls back to
compiling in memory on every process start instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["jit"]


def jit(fn: F) -> F:
    """Compile ``fn`` with ``numba.njit(cache=True)``, or without the disk cache when none is usable.

    numba raises ``RuntimeError("cannot cache function ...: no locator available ...")`` at decoration
    time when it finds no writable place for the cache; compiling without a cache is the fallback.
    """
    try:
        compiled = numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError as exc:
        if "cannot cache" not in str(exc):
            raise
        compiled = numba.njit(cache=False, nogil=True)(fn)
    return cast(F, compiled)
