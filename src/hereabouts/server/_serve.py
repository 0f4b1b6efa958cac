"""Running the ingest server with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .._db import Database
from ..model.errors import MissingDependencyError
from ._app import create_app


def serve(
    db: Database,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    tokens: Mapping[str, str] | None = None,
    owntracks_keys: Mapping[str, str] | None = None,
    log_level: str = "info",
    workers: int = 0,
    **app_options: Any,
) -> None:
    """Serve the ingest endpoints of ``db`` on ``host:port`` until interrupted (queued requests are
    written before it returns). Listen on ``127.0.0.1`` (the default) behind a TLS proxy: the apps send
    tokens and positions in the clear otherwise.

    ``workers`` > 0 reads and validates ingest requests in that many worker processes sharing the port,
    this process keeping the store's single writer (and serving the API and UI through them); see
    :mod:`hereabouts.server._workers`. Without workers, one process does everything."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError(
            "serving needs uvicorn", hint="pip install 'hereabouts[server]'"
        ) from exc
    _log_to_stderr(log_level)
    app = create_app(db, tokens=tokens, owntracks_keys=owntracks_keys, **app_options)
    if workers > 0:
        from ._workers import serve_workers

        serve_workers(
            app,
            host=host,
            port=port,
            workers=workers,
            owntracks_keys=owntracks_keys,
            log_level=log_level,
            options=server_options(),
        )
        return
    uvicorn.run(app, host=host, port=port, log_level=log_level, **server_options())


def _log_to_stderr(log_level: str) -> None:
    """The server's own messages (``hereabouts.server``) on stderr at ``log_level``, as uvicorn's are,
    unless logging is configured already."""
    logger = logging.getLogger("hereabouts.server")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(log_level.upper())


def server_options() -> dict[str, Any]:
    """uvicorn settings for ingest: uvloop and the httptools parser when installed (the fastest
    event loop and HTTP/1.1 parser uvicorn offers), a deep accept backlog for bursts of phones
    reconnecting, and **no access log**: its lines would carry the ``token=`` query parameters some
    apps must use (OsmAnd, GPSLogger, Overland), and credentials are never logged. On shutdown, open
    requests (event streams of the web UI never end by themselves) get 5 s before they are closed; the
    writer then commits what is queued."""
    opts: dict[str, Any] = {
        "access_log": False,
        "backlog": 4096,
        "timeout_keep_alive": 30,
        "timeout_graceful_shutdown": 5,
    }
    try:
        import uvloop  # noqa: F401

        opts["loop"] = "uvloop"
    except ImportError:  # pragma: no cover - depends on the installation
        pass
    try:
        import httptools  # noqa: F401

        opts["http"] = "httptools"
    except ImportError:  # pragma: no cover - depends on the installation
        pass
    return opts
