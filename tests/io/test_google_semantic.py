"""Google Takeout Semantic Location History: place visits, activity segments, raw path points."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io as hio
from hereabouts.io import _detect
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.model.errors import FormatError, HereaboutsError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "google"
FMT = "google_semantic"


def ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def read_bytes(data: bytes, **opts: Any) -> Counts:
    options = ReadOptions(default_device="dev", **opts)
    sink = Sink(MemoryWriter(), member="mem.json", options=options, unit="record")
    hio.get(FMT).read(io.BytesIO(data), ReadContext(sink=sink, options=options, member="mem.json"))
    return sink.close()


def balanced(c: Counts) -> bool:
    return c.read == (
        c.fixes + c.duplicates + c.rejected + c.scans + c.reported_stays + c.reported_trips + c.events
    )


# ---------------------------------------------------------------- new style (ISO times)
def test_iso_style_month() -> None:
    r = hio.read(FIXTURES / "2023_JANUARY.json")
    c = r.counts
    assert [m.format for m in r.members] == [FMT]
    assert (c.reported_stays, c.reported_trips, c.fixes, c.rejected, c.read) == (2, 1, 3, 0, 6)

    stays = r.reported_stays.to_pylist()
    gate = stays[0]
    assert gate["label"] == "Brandenburg Gate"  # the name wins over the address
    assert gate["place_ref"] == "ChIJplace-home"
    assert (gate["lat"], gate["lon"]) == (pytest.approx(52.51637), pytest.approx(13.3777))
    assert gate["confidence"] == pytest.approx(0.95)  # visitConfidence 95 %
    assert gate["device"] == "335552189"
    assert gate["start"].timestamp() == ts("2023-01-05T08:00:00Z")
    assert gate["end"].timestamp() == ts("2023-01-05T09:30:00Z")
    assert gate["tz_offset_s"] is None
    # a visit whose location has no coordinates: kept without a position, address as label
    bare = stays[1]
    assert (bare["lat"], bare["lon"], bare["label"]) == (None, None, "Alexanderplatz, Berlin")
    assert bare["confidence"] is None
    assert bare["device"] == "2023_JANUARY"

    trip = r.reported_trips.to_pylist()[0]
    assert trip["mode"] == "in_passenger_vehicle"
    assert trip["confidence"] == pytest.approx(0.88)  # the probability of the chosen type
    assert trip["distance_m"] == 2150
    assert (trip["from_lat"], trip["from_lon"]) == (pytest.approx(52.51637), pytest.approx(13.3777))
    assert (trip["to_lat"], trip["to_lon"]) == (pytest.approx(52.52), pytest.approx(13.4049))
    assert trip["end"].timestamp() - trip["start"].timestamp() == 22 * 60


def test_raw_path_points_are_reported_fixes_and_waypoints_are_not() -> None:
    r = hio.read(FIXTURES / "2023_JANUARY.json")
    fixes = r.fixes.to_pylist()
    assert {f["provider"] for f in fixes} == {"reported"}
    assert [round(f["lat"], 6) for f in fixes] == [52.516365, 52.517, 52.519]
    assert [f["accuracy_m"] for f in fixes] == [8.0, 15.0, None]
    assert fixes[2]["t"].timestamp() == ts("2023-01-05T09:46:30.250Z")
    # the two waypoints of waypointPath have no time: none of the fixes sits on them exactly
    assert all((round(f["lat"], 4), round(f["lon"], 4)) != (52.52, 13.4049) for f in fixes)


def test_child_visits_are_not_imported() -> None:
    r = hio.read(FIXTURES / "2023_JANUARY.json")
    assert "ChIJchild" not in r.reported_stays.column("place_ref").to_pylist()


# ---------------------------------------------------------------- old style (...Ms times) and bad objects
def test_ms_style_month_and_bad_objects() -> None:
    r = hio.read(FIXTURES / "2019_JANUARY.json")
    c = r.counts
    assert (c.reported_trips, c.reported_stays, c.fixes, c.rejected, c.read) == (1, 1, 1, 4, 7)
    assert balanced(c)
    trip = r.reported_trips.to_pylist()[0]
    assert trip["start"].timestamp() == 1546340400.0 and trip["end"].timestamp() == 1546341300.0
    assert (trip["mode"], trip["confidence"], trip["distance_m"]) == ("cycling", None, 11200.0)
    stay = r.reported_stays.to_pylist()[0]
    assert (stay["label"], stay["confidence"]) == ("Cafe", pytest.approx(0.612))
    fix = r.fixes.to_pylist()[0]
    assert fix["t"].timestamp() == 1546340900.0 and fix["accuracy_m"] == 20.0
    rejects = sorted((x["position"], x["field"] or "") for x in r.rejects.to_pylist())
    assert rejects == [
        (3, "placeVisit.duration.endTimestamp"),  # no end
        (4, "lat"),  # "north" where a number belongs
        (5, "end"),  # ends before it starts
        (6, ""),  # neither a visit nor a segment
    ]


def test_truncated_month_keeps_objects_before_the_break(tmp_path: Path) -> None:
    data = (FIXTURES / "2023_JANUARY.json").read_bytes()
    cut = data.index(b'"distance": 2150')
    p = tmp_path / "2023_JANUARY.json"
    p.write_bytes(data[:cut])
    r = hio.read(p)
    assert (r.counts.reported_stays, r.counts.fixes, r.counts.reported_trips, r.counts.rejected) == (
        1,
        1,
        0,
        1,
    )
    rej = r.rejects.to_pylist()[0]
    assert rej["position"] == 2 and "truncated" in rej["reason"]


def test_gigantic_object_is_rejected(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "2023_JANUARY.json").read_text())
    doc["timelineObjects"][1]["activitySegment"]["note"] = "y" * (3 * 1024 * 1024)
    p = tmp_path / "2023_JANUARY.json"
    p.write_text(json.dumps(doc))
    r = hio.read(p)
    assert (r.counts.reported_stays, r.counts.reported_trips, r.counts.rejected) == (2, 0, 1)
    assert r.rejects.column("position").to_pylist() == [2]


def test_forced_on_something_else_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text('{"locations": []}')
    with pytest.raises(FormatError):
        hio.read(p, format=FMT)


# ---------------------------------------------------------------- detection
def test_detected_by_content_under_another_name(tmp_path: Path) -> None:
    p = tmp_path / "history.dat"
    shutil.copy(FIXTURES / "2019_JANUARY.json", p)
    assert [m.format for m in hio.read(p).members] == [FMT]


@pytest.mark.parametrize(
    "content",
    [
        (FIXTURES / "records_takeout.json").read_bytes(),
        (FIXTURES / "Timeline.json").read_bytes(),
        b'{"type": "FeatureCollection", "features": []}',
        b"lat,lon,time\n1,2,3\n",
    ],
)
def test_not_taken_for_other_formats(content: bytes) -> None:
    assert hio.get(FMT).sniff(content[:65536], "2023_january.json") < 0.5


def test_detect_picks_semantic() -> None:
    fmt = _detect.detect((FIXTURES / "2023_JANUARY.json").read_bytes(), "x.json")
    assert fmt is not None and fmt.name == FMT


# ---------------------------------------------------------------- fuzz
_SEED = (FIXTURES / "2023_JANUARY.json").read_bytes()


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_SEED)),
    edits=st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.binary(min_size=0, max_size=3)), max_size=4),
)
def test_mutations_never_crash_and_counts_balance(cut: int, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(_SEED)
    for at, repl in edits:
        data[at : at + 1] = repl
    try:
        c = read_bytes(bytes(data[:cut]))
    except HereaboutsError:
        return
    assert balanced(c)


_KEYS = [
    "placeVisit",
    "activitySegment",
    "location",
    "duration",
    "startTimestamp",
    "endTimestampMs",
    "latitudeE7",
    "longitudeE7",
    "simplifiedRawPath",
    "points",
    "latE7",
    "timestamp",
    "activities",
    "activityType",
]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), kids, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=2000)
@given(_JSON)
def test_odd_shapes_in_valid_json_never_crash(obj: Any) -> None:
    c = read_bytes(
        json.dumps({"timelineObjects": [obj, {"placeVisit": obj}, {"activitySegment": obj}]}).encode()
    )
    assert balanced(c)
