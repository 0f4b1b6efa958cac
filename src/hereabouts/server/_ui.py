"""The web UI: static pages that call only the REST API (:mod:`hereabouts.server._api`).

* ``/`` the app: log in, pick a workspace, the live map (positions pushed by the ``stream`` endpoint),
  an entity's day (stays, trips, places, a playback slider over the day's fixes), its profile (places
  by kind, statistics; analysts), the ask box with the answer's evidence drawn on the map, share links
  and members (owners), and geofences (analysts make them on the map and remove them).
* ``/share/{token}`` the read-only page a share link opens (it calls ``/api/v1/shared``).
* ``/ui/...`` the app's static files; ``/ui/leaflet/...`` Leaflet from the ``xstatic-leaflet`` package.

Nothing is loaded from another origin (no CDN, no map tiles): the pages work offline, and a strict
Content-Security-Policy (``'self'`` only, no inline scripts or styles) is sent with every UI response.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..model.errors import MissingDependencyError

UI_DIR = Path(__file__).with_name("ui")

#: Sent with every UI response. Leaflet sets element styles from script (allowed: CSSOM, not inline
#: markup); its stylesheet refers to images under its own folder.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a share page's URL holds its token
    "X-Frame-Options": "DENY",
}


def _leaflet_dir() -> Path:
    try:
        import xstatic.pkg.leaflet as leaflet
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingDependencyError(
            "the web UI needs Leaflet from the xstatic-leaflet package",
            hint="pip install 'hereabouts[server]'",
        ) from exc
    return Path(leaflet.BASE_DIR)


class _Secured:
    """An ASGI wrapper adding :data:`SECURITY_HEADERS` to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _v in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.lower().encode() not in have:
                        headers.append((k.lower().encode(), v.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secured)


def _page(name: str) -> Response:
    return FileResponse(
        UI_DIR / name, media_type="text/html", headers={"Cache-Control": "no-cache", **SECURITY_HEADERS}
    )


async def _index(request: Request) -> Response:
    return _page("index.html")


async def _share(request: Request) -> Response:
    return _page("share.html")


def ui_routes() -> list[Route | Mount]:
    """The UI's routes (see the module documentation); add them to an app that serves the REST API."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Route("/share/{token}", _share, methods=["GET", "HEAD"]),
        Mount("/ui/leaflet", app=_Secured(StaticFiles(directory=_leaflet_dir())), name="leaflet"),
        Mount("/ui", app=_Secured(StaticFiles(directory=UI_DIR)), name="ui"),
    ]
