"""Every reader, fed damaged input with its format forced: never a crash or a hang, and
records read == imported + duplicates + rejected (+ scans, reported stays/trips, events)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts as hb
from hereabouts.io import formats, read

SEEDS: dict[str, bytes] = {
    "csv": b"time,lat,lon,acc\n2024-05-01T08:00:00Z,48.1,11.5,5\n2024-05-01T08:01:00Z,48.2,11.6,6\n",
    "traccar_csv": b"deviceId,fixTime,latitude,longitude,speed,course\n1,2024-05-01 08:00:00,48.1,11.5,3.2,90\n",
    "gpx": b'<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
    b'<trkpt lat="48.1" lon="11.5"><ele>5</ele><time>2024-05-01T08:00:00Z</time></trkpt>'
    b'<trkpt lat="48.2" lon="11.6"><time>2024-05-01T08:01:00Z</time></trkpt></trkseg></trk></gpx>',
    "kml": b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">'
    b"<Placemark><gx:Track><when>2024-05-01T08:00:00Z</when><when>2024-05-01T08:01:00Z</when>"
    b"<gx:coord>11.5 48.1 0</gx:coord><gx:coord>11.6 48.2 0</gx:coord></gx:Track></Placemark></kml>",
    "tcx": b'<?xml version="1.0"?><TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">'
    b"<Activities><Activity><Lap><Track><Trackpoint><Time>2024-05-01T08:00:00Z</Time><Position>"
    b"<LatitudeDegrees>48.1</LatitudeDegrees><LongitudeDegrees>11.5</LongitudeDegrees></Position></Trackpoint>"
    b"</Track></Lap></Activity></Activities></TrainingCenterDatabase>",
    "geojson": b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point",'
    b'"coordinates":[11.5,48.1]},"properties":{"time":"2024-05-01T08:00:00Z"}}]}',
    "google_records": b'{"locations":[{"latitudeE7":481000000,"longitudeE7":115000000,"accuracy":10,'
    b'"timestamp":"2024-05-01T08:00:00Z"},{"latitudeE7":482000000,"longitudeE7":116000000,'
    b'"timestampMs":"1714550460000"}]}',
    "google_semantic": b'{"timelineObjects":[{"placeVisit":{"location":{"latitudeE7":481000000,'
    b'"longitudeE7":115000000,"name":"Cafe"},"duration":{"startTimestamp":"2024-05-01T08:00:00Z",'
    b'"endTimestamp":"2024-05-01T09:00:00Z"}}}]}',
    "google_ondevice": b'{"semanticSegments":[{"startTime":"2024-05-01T08:00:00.000+02:00",'
    b'"endTime":"2024-05-01T09:00:00.000+02:00","timelinePath":[{"point":"48.1\xc2\xb0, 11.5\xc2\xb0",'
    b'"time":"2024-05-01T08:10:00.000+02:00"}]}],"rawSignals":[]}',
    "owntracks_json": b'{"_type":"location","tst":1714550400,"lat":48.1,"lon":11.5,"acc":5,"tid":"ab"}',
    "owntracks_rec": b'2024-05-01T08:00:00Z\towntracks/jane/phone\t{"_type":"location","tst":1714550400,'
    b'"lat":48.1,"lon":11.5}\n2024-05-01T08:01:00Z\towntracks/jane/phone\t{"_type":"location",'
    b'"tst":1714550460,"lat":48.2,"lon":11.6}\n',
    "geolife": b"Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"
    b"39.9,116.3,0,492,39934.1,2009-05-01,02:24:00\n39.91,116.31,0,492,39934.1001,2009-05-01,02:25:00\n",
}


def _names() -> list[str]:
    return sorted(f.name for f in formats())


def _check(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "input.bin"
        p.write_bytes(data)
        try:
            res = read(p, format=name)
        except hb.HereaboutsError:
            return  # a whole-file problem, reported as such
        c = res.counts
        assert c.read == (
            c.fixes + c.duplicates + c.rejected + c.scans + c.reported_stays + c.reported_trips + c.events
        ), (name, c)
        assert res.fixes.num_rows == c.fixes
        assert res.rejects.num_rows == c.rejected


@pytest.mark.parametrize("name", _names())
@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_input_never_crashes(name: str, data: st.DataObject) -> None:
    seed = SEEDS.get(name, b"")
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "random"]))
    if kind == "random" or not seed:
        blob = data.draw(st.binary(max_size=2000))
    elif kind == "truncate":
        blob = seed[: data.draw(st.integers(0, len(seed)))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(seed) - 1))
        blob = seed[:i] + bytes([data.draw(st.integers(0, 255))]) + seed[i + 1 :]
    else:
        i = data.draw(st.integers(0, len(seed)))
        blob = seed[:i] + data.draw(st.binary(min_size=1, max_size=50)) + seed[i:]
    _check(name, blob)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_is_read_by_its_reader(name: str) -> None:
    if name not in _names():
        pytest.fail(f"format {name!r} is not registered")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "input.bin"
        p.write_bytes(SEEDS[name])
        res = read(p)
        assert {m.format for m in res.members} == {name}
        assert res.counts.fixes + res.counts.reported_stays >= 1
        assert res.counts.rejected == 0, res.rejects.to_pylist()
