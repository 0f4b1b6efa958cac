"""TCX (Garmin Training Center Database v2): activity track points.

Each ``<Trackpoint>`` with a ``<Position>`` is one record at the line of its start tag: ``<Time>`` →
``t``, ``<Position><LatitudeDegrees>/<LongitudeDegrees>`` → ``lat``/``lon``, ``<AltitudeMeters>`` →
``altitude_m``, and the Activity Extension speed (``<ns3:TPX><ns3:Speed>``, metres per second) →
``speed_mps``. A track point with a position but no readable time, or with only one of the two
coordinates, is rejected naming the field.

Track points *without* a ``<Position>`` are heart-rate, cadence or distance samples recorded while the
receiver had no position (or by an indoor device): they are not location records, so they are
skipped silently and counted neither as read nor as rejected.

``<Courses>`` hold planned routes whose times are a virtual pace, not observations: each ``<Course>``
is one reject saying so, and its points are not read. The ``<Creator>`` names the recording device,
but the device stream comes from the import options, as for every format. TCX says nothing about how
a position was obtained, so ``provider`` is left unknown.
"""

from __future__ import annotations

from typing import IO, ClassVar

from ._base import Format, ReadContext, register
from ._xml import XmlReader, number, parse_time, root_element


class _TcxReader(XmlReader):
    root_names: ClassVar[frozenset[str]] = frozenset({"TrainingCenterDatabase"})
    format_label: ClassVar[str] = "TCX"
    text_elements: ClassVar[frozenset[str]] = frozenset(
        {"Time", "LatitudeDegrees", "LongitudeDegrees", "AltitudeMeters", "Speed"}
    )
    struct_elements: ClassVar[frozenset[str]] = frozenset({"Trackpoint", "Position", "Course"})

    def __init__(self, ctx: ReadContext) -> None:
        super().__init__(ctx)
        self.tp: dict[str, str] | None = None
        self.tp_line = 0
        self.has_position = False
        self.too_long: str | None = None
        self.course_depth = 0
        self.course_line = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "Trackpoint":
            self.tp = {}
            self.tp_line = self.line()
            self.has_position = False
            self.too_long = None
        elif name == "Position":
            self.has_position = True
        elif name == "Course":
            self.course_depth += 1
            if self.course_depth == 1:
                self.course_line = self.line()

    def end(self, name: str, text: str | None) -> None:
        tp = self.tp
        if name == "Trackpoint":
            self.tp = None
            if tp is not None and not self.course_depth:
                self._emit(tp)
        elif name == "Course":
            self.course_depth -= 1
            if self.course_depth == 0:
                self.sink.reject(
                    self.course_line,
                    "Course",
                    "a TCX Course is a planned route whose times are a virtual pace, not observations; "
                    "its points were not read (expected Activities for location history)",
                )
        elif tp is not None and text is not None and name not in tp and name != "Position":
            tp[name] = text

    def text_too_long(self, name: str, line: int) -> None:
        if self.tp is not None and self.too_long is None:
            self.too_long = name

    def finish(self, complete: bool) -> None:
        self.tp = None

    def _emit(self, tp: dict[str, str]) -> None:
        lat_text = tp.get("LatitudeDegrees")
        lon_text = tp.get("LongitudeDegrees")
        if not self.has_position and lat_text is None and lon_text is None:
            return  # a heart-rate/cadence sample without a position: not a location record
        line = self.tp_line
        sink = self.sink
        if self.too_long is not None:
            sink.reject(
                line,
                self.too_long,
                f"Trackpoint <{self.too_long}> text is longer than {self.max_text} characters; "
                "expected a short value",
            )
            return
        lat = number(lat_text)
        if lat is None:
            sink.reject(
                line,
                "LatitudeDegrees",
                "Trackpoint <Position> has no numeric <LatitudeDegrees>; expected decimal degrees",
                lat_text,
            )
            return
        lon = number(lon_text)
        if lon is None:
            sink.reject(
                line,
                "LongitudeDegrees",
                "Trackpoint <Position> has no numeric <LongitudeDegrees>; expected decimal degrees",
                lon_text,
            )
            return
        time = tp.get("Time")
        if time is None:
            sink.reject(
                line,
                "Time",
                "Trackpoint has a position but no <Time>; a position without a time is not a fix "
                "(expected ISO 8601 such as 2024-06-15T10:30:00Z)",
            )
            return
        try:
            t_us, off = parse_time(time, self.tz)
        except ValueError:
            sink.reject(
                line,
                "Time",
                "Trackpoint <Time> is not a date and time; expected ISO 8601 such as 2024-06-15T10:30:00Z",
                time,
            )
            return
        self.fixes.add(
            line,
            t_us,
            lat,
            lon,
            off,
            number(tp.get("AltitudeMeters")),
            None,
            number(tp.get("Speed")),
        )


def _sniff(head: bytes, name: str) -> float:
    if root_element(head) == "TrainingCenterDatabase":
        return 1.0 if name.endswith(".tcx") else 0.95
    return 0.0


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    _TcxReader(ctx).run(stream)


FORMAT = register(
    Format(
        name="tcx",
        description="TCX (Garmin Training Center) activity track points",
        sniff=_sniff,
        read=_read,
        unit="line",
        extensions=(".tcx",),
    )
)
