"""KML 2.2 (and KMZ, whose ``doc.kml`` the archive layer hands over): timed points and tracks.

What becomes a fix:

* ``<Placemark>`` with a ``<Point>``: one fix per Point (a ``<MultiGeometry>`` of Points gives one per
  Point), at the Placemark's ``<TimeStamp><when>``. A ``<TimeSpan>`` gives its ``<begin>`` as the time
  (its ``<end>`` when there is no begin): a span is when the producer says the place was visited, and
  its start is the one moment we know the position held. A Point with neither is rejected (field
  ``when``): a position without a time is not a fix. Positions are the line of the ``<Point>`` tag.
* ``<gx:Track>`` (alone or inside ``<gx:MultiTrack>``): the n-th ``<when>`` is paired with the n-th
  ``<gx:coord>`` ("lon lat alt", space separated), in document order; each pair is one record at the
  line of its ``<gx:coord>``. A bad ``<when>`` or ``<gx:coord>`` rejects its pair only; unmatched
  ``<when>`` or ``<gx:coord>`` elements left when the track closes are one reject each. Pairs are
  emitted as soon as both halves are read, so interleaved tracks stream in constant memory; tracks
  that list every ``<when>`` before the coordinates (the usual layout) hold about 20 bytes per point
  until the coordinates arrive.

``<coordinates>`` are ``lon,lat[,alt]``. A ``<LineString>`` has no time per point, so it cannot give
fixes: each is one reject saying so. Polygons, overlays, styles and ``ExtendedData`` are skipped.
Placemark names are not device names: the device comes from the import options.
"""

from __future__ import annotations

import re
from array import array
from typing import IO, ClassVar

from ._base import Format, ReadContext, register
from ._xml import XmlReader, parse_time, root_element

_COMMA_SPACE = re.compile(r"\s*,\s*")
_NO_OFFSET = -(2**31)


class _Placemark:
    __slots__ = ("begin", "end", "line", "lines", "points", "when")

    def __init__(self, line: int) -> None:
        self.line = line
        self.when: str | None = None
        self.begin: str | None = None
        self.end: str | None = None
        self.points: list[tuple[int, str | None]] = []
        self.lines: list[int] = []


class _Track:
    """The times and coordinates of one ``gx:Track`` not yet paired, in compact arrays."""

    def __init__(self) -> None:
        self.t = array("q")
        self.off = array("l")
        self.t_line = array("q")
        self.t_bad: dict[int, str] = {}
        self.t_head = 0
        self.lon = array("d")
        self.lat = array("d")
        self.alt = array("d")
        self.c_line = array("q")
        self.c_bad: dict[int, str] = {}
        self.c_head = 0

    def reset_if_drained(self) -> None:
        """Once every time and coordinate read so far is paired, start the arrays afresh."""
        if self.t_head == len(self.t) and self.c_head == len(self.lon) and self.t_head:
            for arr in (self.t, self.off, self.t_line, self.lon, self.lat, self.alt, self.c_line):
                del arr[:]
            self.t_head = self.c_head = 0


class _KmlReader(XmlReader):
    root_names: ClassVar[frozenset[str]] = frozenset({"kml"})
    format_label: ClassVar[str] = "KML"
    text_elements: ClassVar[frozenset[str]] = frozenset({"when", "coord", "coordinates", "begin", "end"})
    struct_elements: ClassVar[frozenset[str]] = frozenset(
        {"Placemark", "Point", "Track", "TimeStamp", "TimeSpan", "LineString"}
    )

    def __init__(self, ctx: ReadContext) -> None:
        super().__init__(ctx)
        self.pm: _Placemark | None = None
        self.point_line = 0
        self.point_coords: str | None = None
        self.in_point = False
        self.in_stamp = False
        self.in_span = False
        self.track: _Track | None = None
        self.track_depth = 0
        self.text_line = 0
        self.too_long: str | None = None

    # ------------------------------------------------------------------ structure
    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "Track":
            self.track_depth += 1
            if self.track_depth == 1:
                self.track = _Track()
        elif name == "Placemark":
            if self.pm is not None:  # not allowed by KML; keep what the outer one had
                self._emit_placemark(self.pm)
            self.pm = _Placemark(self.line())
        elif name == "Point":
            self.in_point = True
            self.point_line = self.line()
            self.point_coords = None
            self.too_long = None
        elif name == "TimeStamp":
            self.in_stamp = True
        elif name == "TimeSpan":
            self.in_span = True
        elif name == "LineString" and self.pm is not None and not self.track_depth:
            self.pm.lines.append(self.line())

    def end(self, name: str, text: str | None) -> None:
        if name == "when":
            if self.track_depth:
                self._track_when(text)
            elif self.in_stamp and self.pm is not None and self.pm.when is None:
                self.pm.when = text if text is not None else ""
        elif name == "coord":
            if self.track_depth:
                self._track_coord(text)
        elif name == "coordinates":
            if self.in_point and self.point_coords is None:
                self.point_coords = text if text is not None else ""
        elif name == "begin" or name == "end":
            if self.in_span and self.pm is not None:
                if name == "begin" and self.pm.begin is None:
                    self.pm.begin = text if text is not None else ""
                elif name == "end" and self.pm.end is None:
                    self.pm.end = text if text is not None else ""
        elif name == "Point":
            self.in_point = False
            if self.pm is not None and not self.track_depth:
                coords = None if self.too_long == "coordinates" else self.point_coords
                self.pm.points.append((self.point_line, coords))
        elif name == "Placemark":
            pm = self.pm
            self.pm = None
            if pm is not None:
                self._emit_placemark(pm)
        elif name == "Track":
            self.track_depth -= 1
            if self.track_depth == 0 and self.track is not None:
                self._close_track(self.track)
                self.track = None
        elif name == "TimeStamp":
            self.in_stamp = False
        elif name == "TimeSpan":
            self.in_span = False

    def text_too_long(self, name: str, line: int) -> None:
        self.too_long = name
        self.text_line = line

    def finish(self, complete: bool) -> None:
        # a placemark or track cut off by damage is covered by the damage reject; pairs already
        # completed were emitted as they were read
        self.pm = None
        self.track = None

    # ------------------------------------------------------------------ placemarks
    def _emit_placemark(self, pm: _Placemark) -> None:
        sink = self.sink
        for line in pm.lines:
            sink.reject(
                line,
                "LineString",
                "a LineString has no time for its points, so it gives no fixes; "
                "expected a gx:Track (when + gx:coord) or Points with a TimeStamp",
            )
        if not pm.points:
            return
        field, text = "when", pm.when
        if text is None:
            field, text = ("begin", pm.begin) if pm.begin is not None else ("end", pm.end)
        for line, coords in pm.points:
            if text is None:
                sink.reject(
                    line,
                    "when",
                    "Placemark has a Point but no time; a position without a time is not a fix "
                    "(expected <TimeStamp><when> or <TimeSpan><begin>)",
                )
                continue
            try:
                t_us, off = parse_time(text, self.tz)
            except ValueError:
                sink.reject(
                    line,
                    field,
                    f"<{field}> is not a date and time; expected ISO 8601 such as 2024-06-15T10:30:00Z",
                    text,
                )
                continue
            if coords is None:
                sink.reject(
                    line,
                    "coordinates",
                    "Point has no <coordinates> (or they are too long); expected lon,lat[,alt]",
                )
                continue
            lla = _point_coords(coords)
            if lla is None:
                sink.reject(
                    line,
                    "coordinates",
                    "Point <coordinates> is not one lon,lat[,alt] tuple of numbers",
                    coords,
                )
                continue
            self.fixes.add(line, t_us, lla[1], lla[0], off, lla[2])

    # ------------------------------------------------------------------ tracks
    def _track_when(self, text: str | None) -> None:
        tr = self.track
        if tr is None:
            return
        line = self.line()
        try:
            if text is None:
                raise ValueError("too long")
            t_us, off = parse_time(text, self.tz)
        except ValueError:
            tr.t_bad[len(tr.t)] = (text or "")[:100]
            t_us, off = 0, None
        tr.t.append(t_us)
        tr.off.append(_NO_OFFSET if off is None else off)
        tr.t_line.append(line)
        self._pair(tr)

    def _track_coord(self, text: str | None) -> None:
        tr = self.track
        if tr is None:
            return
        line = self.line()
        lla = None if text is None else _track_coords(text)
        if lla is None:
            tr.c_bad[len(tr.lon)] = (text or "")[:100]
            lla = (0.0, 0.0, None)
        tr.lon.append(lla[0])
        tr.lat.append(lla[1])
        tr.alt.append(float("nan") if lla[2] is None else lla[2])
        tr.c_line.append(line)
        self._pair(tr)

    def _pair(self, tr: _Track) -> None:
        while tr.t_head < len(tr.t) and tr.c_head < len(tr.lon):
            i, j = tr.t_head, tr.c_head
            tr.t_head += 1
            tr.c_head += 1
            if i in tr.t_bad:
                self.sink.reject(
                    tr.t_line[i],
                    "when",
                    "gx:Track <when> is not a date and time; expected ISO 8601 such as 2024-06-15T10:30:00Z",
                    tr.t_bad.pop(i),
                )
                tr.c_bad.pop(j, None)
                continue
            if j in tr.c_bad:
                self.sink.reject(
                    tr.c_line[j],
                    "coord",
                    "<gx:coord> is not 'lon lat [alt]' numbers separated by spaces",
                    tr.c_bad.pop(j),
                )
                continue
            off = tr.off[i]
            alt = tr.alt[j]
            self.fixes.add(
                tr.c_line[j],
                tr.t[i],
                tr.lat[j],
                tr.lon[j],
                None if off == _NO_OFFSET else off,
                None if alt != alt else alt,
            )
        tr.reset_if_drained()

    def _close_track(self, tr: _Track) -> None:
        for i in range(tr.t_head, len(tr.t)):
            self.sink.reject(
                tr.t_line[i],
                "coord",
                "gx:Track has more <when> than <gx:coord> elements; this time has no position",
                tr.t_bad.get(i),
            )
        for j in range(tr.c_head, len(tr.lon)):
            self.sink.reject(
                tr.c_line[j],
                "when",
                "gx:Track has more <gx:coord> than <when> elements; this position has no time",
                tr.c_bad.get(j),
            )


def _floats(parts: list[str]) -> tuple[float, float, float | None] | None:
    if len(parts) not in (2, 3):
        return None
    try:
        lon = float(parts[0])
        lat = float(parts[1])
        alt = float(parts[2]) if len(parts) == 3 else None
    except ValueError:
        return None
    return lon, lat, alt


def _point_coords(text: str) -> tuple[float, float, float | None] | None:
    tuples = _COMMA_SPACE.sub(",", text.strip()).split()
    if len(tuples) != 1:
        return None
    return _floats(tuples[0].split(","))


def _track_coords(text: str) -> tuple[float, float, float | None] | None:
    return _floats(text.split())


def _sniff(head: bytes, name: str) -> float:
    if root_element(head) == "kml":
        return 1.0 if name.endswith((".kml", ".kmz")) else 0.95
    return 0.0


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    _KmlReader(ctx).run(stream)


FORMAT = register(
    Format(
        name="kml",
        description="KML/KMZ Placemark points with a TimeStamp or TimeSpan, gx:Track and gx:MultiTrack",
        sniff=_sniff,
        read=_read,
        unit="line",
        extensions=(".kml", ".kmz"),
    )
)
