"""The live server: HTTP endpoints that tracking apps report to (``pip install 'hereabouts[server]'``).

>>> import hereabouts as hb
>>> from hereabouts.server import create_app
>>> app = create_app(hb.open(":memory:"), tokens={"s3cret": "jane/phone"})

Run it with any ASGI server, e.g. ``uvicorn --factory`` over a function returning ``create_app(...)``.
See :mod:`hereabouts.server._app` for the endpoints, tokens and encryption keys.
"""

from __future__ import annotations

from ._app import MAX_BODY_BYTES, create_app
from ._errors import STATUS, ApiError
from ._protocols import owntracks_decrypt, owntracks_key
from ._writer import GroupWriter

__all__ = [
    "MAX_BODY_BYTES",
    "STATUS",
    "ApiError",
    "GroupWriter",
    "create_app",
    "owntracks_decrypt",
    "owntracks_key",
]
