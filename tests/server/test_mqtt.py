"""OwnTracks MQTT mode against the real Mosquitto broker at 127.0.0.1:1883."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

import hereabouts as hb
from hereabouts.server import GroupWriter, owntracks_key
from hereabouts.server._mqtt import OwnTracksSubscriber, device_of_topic

BROKER = ("127.0.0.1", 1883)


def _broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


if not _broker_up():
    if os.environ.get("HEREABOUTS_REQUIRE_MQTT") == "1":
        raise RuntimeError(f"no MQTT broker at {BROKER[0]}:{BROKER[1]} (HEREABOUTS_REQUIRE_MQTT=1)")
    pytest.skip("no MQTT broker at 127.0.0.1:1883", allow_module_level=True)


def _publish(topic: str, payloads: list[bytes]) -> None:
    """Publish with QoS 1 and wait for the broker's acknowledgements, as the app does."""
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.connect(*BROKER)
    pub.loop_start()
    try:
        for p in payloads:
            pub.publish(topic, p, qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()
        pub.loop_stop()


def _wait(cond: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _loc(tst: int, lat: float = 52.09, lon: float = 5.12, **kw: object) -> bytes:
    msg = {"_type": "location", "tst": tst, "lat": lat, "lon": lon, "acc": 8, "tid": "ph", **kw}
    return json.dumps(msg).encode()


@pytest.fixture
def base() -> str:
    return f"owntracks-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[hb.Database, GroupWriter]]:
    db = hb.open(tmp_path / "mqtt.db")
    writer = GroupWriter(db)
    yield db, writer
    writer.close()
    db.close()


def test_device_of_topic() -> None:
    assert device_of_topic("owntracks/jane/phone") == ("jane/phone", "")
    assert device_of_topic("owntracks/jane/phone/event") == ("jane/phone", "event")
    assert device_of_topic("a/b/jane/phone", base="a/b") == ("jane/phone", "")
    assert device_of_topic("owntracks/jane") is None
    assert device_of_topic("other/jane/phone") is None


def test_locations_and_transitions_are_stored_under_the_topic_device(
    live: tuple[hb.Database, GroupWriter], base: str
) -> None:
    db, writer = live
    sub = OwnTracksSubscriber(writer, base=base, client_id=f"hb-{base}")
    with sub:
        _publish(f"{base}/jane/phone", [_loc(1_700_000_000 + i * 60, lat=52.09 + i * 1e-4) for i in range(5)])
        event = {"_type": "transition", "tst": 1_700_000_400, "wtst": 1_690_000_000, "event": "enter",
                 "desc": "Office", "lat": 52.09, "lon": 5.12, "acc": 10, "tid": "ph", "t": "c"}  # fmt: skip
        _publish(f"{base}/jane/phone/event", [json.dumps(event).encode()])
        assert _wait(lambda: sub.stats.stored >= 6), sub.stats
    fixes = db.fixes()
    assert fixes.num_rows == 5
    assert set(fixes.column("device").to_pylist()) == {"jane/phone"}
    events = db.events()
    assert events.num_rows == 1
    assert "enter" in json.dumps(events.to_pylist(), default=str)
    kinds = db.sources().column("kind").to_pylist()
    assert any("owntracks_mqtt" in k for k in kinds)


def test_replays_are_deduplicated_and_bad_messages_do_not_stop_the_rest(
    live: tuple[hb.Database, GroupWriter], base: str
) -> None:
    db, writer = live
    sub = OwnTracksSubscriber(writer, base=base, client_id=f"hb-{base}")
    with sub:
        good = _loc(1_700_000_000)
        _publish(
            f"{base}/bob/tab",
            [good, b"{not json", good, json.dumps({"lat": 1}).encode(), _loc(1_700_000_060)],
        )
        assert _wait(lambda: sub.stats.messages >= 5), sub.stats
        assert _wait(lambda: sub.stats.stored >= 3), sub.stats
    assert db.fixes().num_rows == 2  # the replayed message is kept once
    assert sub.stats.malformed == 1  # not JSON: logged with its topic, nothing to store
    assert f"{base}/bob/tab" in (sub.stats.last_error or "")
    rejects = db.rejects().to_pylist()  # a message without '_type' is a record-level reject, kept
    assert len(rejects) == 1
    assert rejects[0]["field"] == "_type"


def test_encrypted_payload_is_opened_with_the_device_key(
    live: tuple[hb.Database, GroupWriter], base: str
) -> None:
    nacl_secret = pytest.importorskip("nacl.secret")
    db, writer = live
    box = nacl_secret.SecretBox(owntracks_key("s3cret"))
    import base64

    data = base64.b64encode(bytes(box.encrypt(_loc(1_700_000_000)))).decode()
    sub = OwnTracksSubscriber(writer, base=base, client_id=f"hb-{base}", owntracks_keys={"eve/pad": "s3cret"})
    with sub:
        _publish(f"{base}/eve/pad", [json.dumps({"_type": "encrypted", "data": data}).encode()])
        assert _wait(lambda: sub.stats.stored >= 1), sub.stats
    assert db.fixes().column("lat").to_pylist() == [pytest.approx(52.09)]


def test_messages_published_while_away_arrive_on_reconnect(
    live: tuple[hb.Database, GroupWriter], base: str
) -> None:
    """A persistent session: what the apps publish while the server is down is not lost."""
    db, writer = live
    client_id = f"hb-{base}"
    with OwnTracksSubscriber(writer, base=base, client_id=client_id) as sub:
        _publish(f"{base}/kim/phone", [_loc(1_700_000_000)])
        assert _wait(lambda: sub.stats.stored >= 1)
    _publish(f"{base}/kim/phone", [_loc(1_700_000_000 + 60 * i) for i in range(1, 4)])  # nobody listening
    assert db.fixes().num_rows == 1
    with OwnTracksSubscriber(writer, base=base, client_id=client_id) as sub2:
        assert _wait(lambda: sub2.stats.stored >= 3), sub2.stats
    assert db.fixes().num_rows == 4


def test_unreachable_broker_is_a_clear_error(live: tuple[hb.Database, GroupWriter]) -> None:
    _db, writer = live
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    sub = OwnTracksSubscriber(writer, port=free_port, client_id="hb-nobody")
    with pytest.raises(hb.HereaboutsError, match=f"127.0.0.1:{free_port}"):
        sub.start(connect_timeout_s=2)


def test_the_app_subscribes_while_it_runs(tmp_path: Path, base: str) -> None:
    import asyncio

    import httpx

    from hereabouts.server import create_app

    db = hb.open(tmp_path / "app.db")
    app = create_app(db, tokens={"t0k": "jane/phone"}, mqtt=f"mqtt://127.0.0.1:1883/{base}")

    async def run() -> int:
        async with app.router.lifespan_context(app):  # what uvicorn runs at start and stop
            await asyncio.to_thread(_publish, f"{base}/ann/phone", [_loc(1_700_000_000)])
            assert await asyncio.to_thread(_wait, lambda: app.state.mqtt.stats.stored >= 1)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hb.test") as client:
                r = await client.post("/ingest/owntracks", content=_loc(1_700_000_100), auth=("jane", "t0k"))
            return r.status_code

    try:
        assert asyncio.run(run()) == 200
        assert sorted(set(db.fixes().column("device").to_pylist())) == ["ann/phone", "jane/phone"]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1", {"host": "127.0.0.1", "port": 1883, "tls": False}),
        ("mqtts://u:p%40ss@broker.example:8884/tracks", {"host": "broker.example", "port": 8884, "tls": True,
                                                         "username": "u", "password": "p@ss", "base": "tracks"}),
    ],
)  # fmt: skip
def test_parse_mqtt_url(url: str, expected: dict[str, object]) -> None:
    from hereabouts.server._mqtt import parse_mqtt_url

    assert parse_mqtt_url(url) == expected


def test_parse_mqtt_url_refuses_other_schemes() -> None:
    from hereabouts.server._mqtt import parse_mqtt_url

    with pytest.raises(hb.HereaboutsError, match="not an MQTT broker address"):
        parse_mqtt_url("http://example.org")
