"""OwnTracks samples from other projects (../shared/fixtures/owntracks), read as a user would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from hereabouts.io import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "owntracks"
NOW_US = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000

pytestmark = pytest.mark.conformance


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/fixtures/owntracks is not present")
    return SHARED


def col(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def secs(table: pa.Table) -> list[int]:
    return [t // 1_000_000 for t in table.column("t").cast(pa.int64()).to_pylist()]


def test_recorder_rec_file(shared: Path) -> None:
    r = read(shared / "demo-iphone-2015-08.rec", now_us=NOW_US)
    assert r.members[0].format == "owntracks_rec"
    # 12 lines: 10 locations, 2 'lwt' messages (not location records: skipped, not counted)
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (10, 10, 0)
    f = r.fixes
    assert set(col(f, "device")) == {"NE"}  # topic '*': the tracker id names the stream
    assert secs(f)[0] == 1440395361 and secs(f)[-1] == 1440400747
    assert col(f, "lat")[0] == pytest.approx(52.37888580984668)
    assert col(f, "accuracy_m")[:3] == [3000.0, 5000.0, 2000.0]
    assert col(f, "altitude_m")[0] == 51.0
    assert set(col(f, "speed_mps")) == {None} and set(col(f, "course_deg")) == {None}  # -1 = unknown


def test_location_with_placeholder_position_is_rejected(shared: Path) -> None:
    for name in ("location_valid.json", "location_with_topic.json"):
        r = read(shared / name, now_us=NOW_US)
        assert r.members[0].format == "owntracks_json"
        assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (1, 0, 1)
        assert "placeholder" in col(r.rejects, "reason")[0]


def test_location_with_optional_fields(shared: Path) -> None:
    r = read(shared / "location_extended.json", now_us=NOW_US)
    assert (r.counts.read, r.counts.fixes) == (1, 1)
    f = r.fixes
    assert col(f, "device") == ["s5"]
    assert secs(f) == [1514455575]
    assert (col(f, "lat"), col(f, "lon")) == ([52.3153748], [5.0408462])
    assert (col(f, "accuracy_m"), col(f, "altitude_m"), col(f, "course_deg")) == ([1600.0], [0.0], [56.0])
    assert col(f, "speed_mps") == [None]


def test_transition_becomes_an_event(shared: Path) -> None:
    r = read(shared / "transition.json", now_us=NOW_US)
    assert (r.counts.read, r.counts.events, r.counts.fixes) == (1, 1, 0)
    ev = r.events
    assert col(ev, "kind") == ["transition"] and col(ev, "device") == ["ce"]
    assert secs(ev) == [1603209966]
    assert (col(ev, "lat"), col(ev, "lon")) == ([52.71234], [-1.61234123])
    data = json.loads(col(ev, "data")[0])
    assert (data["event"], data["desc"], data["wtst"]) == ("leave", "myregion", 1558351273)


def test_waypoint_becomes_an_event(shared: Path) -> None:
    r = read(shared / "waypoint.json", now_us=NOW_US)
    assert (r.counts.read, r.counts.events) == (1, 1)
    ev = r.events
    assert col(ev, "kind") == ["waypoint"] and col(ev, "device") == ["waypoint"]  # no topic/tid: file name
    data = json.loads(col(ev, "data")[0])
    assert (data["desc"], data["rad"]) == ("mypoint", 150)
    assert secs(ev) == [1558351273]


def test_encrypted_payload_is_rejected_naming_the_key(shared: Path) -> None:
    r = read(shared / "encrypted.json", now_us=NOW_US)
    assert (r.counts.read, r.counts.rejected) == (1, 1)
    assert "secret key" in col(r.rejects, "reason")[0]


def test_http_friends_response_imports_its_locations(shared: Path) -> None:
    r = read(shared / "http_response_friends.json", now_us=NOW_US)
    assert r.members[0].format == "owntracks_json"
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (1, 1, 0)  # the card is skipped
    f = r.fixes
    assert col(f, "device") == ["JA"]
    assert (col(f, "lat"), col(f, "lon"), secs(f)) == ([48.95833], [2.39523], [1456212791])
