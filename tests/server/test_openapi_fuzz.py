"""schemathesis generates requests from the OpenAPI schema: no endpoint answers with a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.server import create_app

T0 = 1_740_000_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import asyncio

    import httpx

    db = hb.open(tmp_path_factory.mktemp("fuzz") / "api.db")
    acc = Accounts(db.store)
    acc.add_user("alice", "alice-password")
    ingest, _ = acc.add_device("alice", "phone")
    token = acc.add_api_token("alice")
    app = create_app(db, accounts=acc)

    async def feed() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hb.test") as c:
            body = [
                {
                    "_type": "location",
                    "tst": T0 + i,
                    "lat": 52.09 if i < 3600 else 52.11,
                    "lon": 5.12,
                    "acc": 8,
                }
                for i in [*range(0, 3600, 120), 3700]
            ]
            r = await c.post("/ingest/owntracks", json=body, auth=("x", ingest))
            assert r.status_code == 200

    asyncio.run(feed())
    yield {"app": app, "token": token, "accounts": acc}
    app.state.ingest.writer.close()
    app.state.analysis.close()
    db.close()


@pytest.fixture(scope="module")
def api_schema(world: dict[str, Any]) -> Any:
    from schemathesis import GenerationMode
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig()
    # valid requests and invalid ones (wrong types, malformed times, missing fields): neither may 5xx
    config.projects.default.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=False
    )
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", world["app"], config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_the_schema_allows_gets_a_server_error(case: Any, world: dict[str, Any]) -> None:
    # alice's own workspace, so the generated parameters and bodies reach the handlers (an unknown
    # workspace is refused before any of them is read; the authorization matrix test covers that)
    if "ws" in (case.path_parameters or {}):
        case.path_parameters["ws"] = "alice"
    if isinstance(case.query, dict) and "entity" in case.query:
        case.query["entity"] = "alice/phone"  # likewise an entity that exists, so the rest is read
    token = world["accounts"].add_api_token("alice")  # a fresh one: a generated logout revokes its token
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"])
