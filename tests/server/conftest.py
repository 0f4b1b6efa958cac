from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import hereabouts as hb
from hereabouts.server import create_app


class Api:
    """A synchronous face over an in-process ``httpx.AsyncClient`` on the ASGI app (no sockets)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hb.test")

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.runner.run(self.client.request(method, url, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def concurrently(self, calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
        async def go() -> list[httpx.Response]:
            return list(await asyncio.gather(*(self.client.request(m, u, **kw) for m, u, kw in calls)))

        return self.runner.run(go())

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()
        self.app.state.ingest.writer.close()
        if getattr(self.app.state, "analysis", None) is not None:
            self.app.state.analysis.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "live.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[hb.Database]:
    database = hb.open(db_path)
    yield database
    database.close()


@pytest.fixture
def make_api(db: hb.Database) -> Iterator[Any]:
    made: list[Api] = []

    def make(**kw: Any) -> Api:
        api = Api(create_app(db, **kw))
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api: Any) -> Api:
    return make_api()
