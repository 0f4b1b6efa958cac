"""The live server: HTTP endpoints that tracking apps report to (``pip install 'hereabouts[server]'``).

>>> import hereabouts as hb
>>> from hereabouts.server import create_app
>>> app = create_app(hb.open(":memory:"), tokens={"s3cret": "jane/phone"})

Run it with :func:`serve` (uvicorn), or with any ASGI server over ``create_app(...)``.
See :mod:`hereabouts.server._app` for the endpoints, tokens and encryption keys.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    from ..model.errors import MissingDependencyError

    raise MissingDependencyError(
        "the hereabouts server needs Starlette", hint="pip install 'hereabouts[server]'"
    ) from exc

from ._app import MAX_BODY_BYTES, create_app
from ._errors import STATUS, ApiError
from ._protocols import owntracks_decrypt, owntracks_key
from ._serve import serve
from ._writer import GroupWriter, WriterBusy

__all__ = [
    "MAX_BODY_BYTES",
    "STATUS",
    "ApiError",
    "GroupWriter",
    "WriterBusy",
    "create_app",
    "owntracks_decrypt",
    "owntracks_key",
    "serve",
]
