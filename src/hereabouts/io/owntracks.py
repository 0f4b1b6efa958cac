"""OwnTracks: Recorder storage files (``owntracks_rec``) and JSON messages (``owntracks_json``).

**Recorder ``.rec`` files** hold one message per line: ``ISO-time<TAB>topic<TAB>{json}`` (older files
separate the three with runs of spaces). The topic is ``owntracks/<user>/<device>`` or a placeholder
(``*``, ``-``). Positions are line numbers.

**JSON messages** (``owntracks_json``): a single message, a JSON array of messages (what an OwnTracks
HTTP endpoint returns, e.g. a friends list), JSON lines (one message per line), or the Recorder API's
reply ``{"count": n, "data": [messages...]}`` (read as a stream). Positions are record
numbers: the line number in a JSON-lines file, the element number in an array, 1 for a single message.

What each message type becomes:

* ``location`` → a fix: ``tst`` (epoch seconds, number or string) is the time, ``lat``/``lon``, ``acc``
  (metres), ``alt`` (metres), ``vel`` (km/h, converted to m/s), ``cog`` (degrees). Negative ``vel``,
  ``cog`` and ``acc`` mean "unknown". A ``.rec`` line without ``tst`` uses the line's time. ``conn``
  (the phone's connectivity: Wi-Fi, mobile, offline) says nothing about how the position was found, so
  the provider is left unknown.
* ``transition`` → an event of kind ``transition`` (at ``tst``; ``event``, ``desc``, ``wtst``, ``rid``,
  ``acc``, ``t`` and ``tid`` kept in its data).
* ``waypoint`` → an event of kind ``waypoint`` (a region the user defined: ``desc``, ``rad``...);
  ``waypoints`` → one such event per region it lists.
* ``encrypted`` → a reject: the payload can only be read with the device's secret key.
* ``lwt``, ``card``, ``status``, ``cmd``, ``beacon``, ``steps``, ``configuration`` and other types carry
  no position of the device: they are skipped and not counted as records.

**Device rule.** A message's stream is, in order: the forced device; the topic (of the ``.rec`` line, or
the message's own ``topic`` field) as ``<user>/<device>`` — the two levels after ``owntracks/``, or the
last two levels of a custom base topic; for a ``.rec`` file in the Recorder's store layout
(``rec/<user>/<device>/YYYY-MM.rec``) the user and device named by its folders; the message's ``tid``
(tracker id, two characters the user chose) — so a friends list keeps its people apart; and
last the default device (the file name).
"""

from __future__ import annotations

import json
import re
from typing import IO, Any

from ._base import Format, ReadContext, register
from ._json import stream_items
from ._lines import decode_line, iter_lines, peek
from ._time import epoch_to_us, parse_iso

KMH_MPS = 1 / 3.6
_SKIPPED = {"lwt", "card", "status", "cmd", "beacon", "steps", "configuration", "dump", "request", "install"}
_KNOWN = {"location", "transition", "waypoint", "waypoints", "encrypted"} | _SKIPPED
_TOPIC_SUFFIXES = {
    "event",
    "waypoint",
    "waypoints",
    "info",
    "cmd",
    "step",
    "steps",
    "beacon",
    "dump",
    "status",
}
# TAB-separated (the topic may hold spaces) or the older space-separated layout
_REC_LINE = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?(?:\t[^\t\n]+\t|[ \t]+\S+[ \t]+)\{")
_TYPE = re.compile(rb'"_type"\s*:\s*"(location|transition|waypoints?|encrypted|lwt|card|status|cmd)"')
_API_REPLY = re.compile(rb'^\{\s*"(?!_type")')
_API_DATA = re.compile(rb'"data"\s*:\s*\[')
_STORE_PATH = re.compile(r"(?:^|[/\\!])rec[/\\]([^/\\]+)[/\\]([^/\\]+)[/\\]\d{4}-\d{2}\.rec$")


def device_from_topic(topic: Any) -> str | None:
    """``user/device`` from an OwnTracks topic, or None for a placeholder (``*``, ``-``, empty).

    >>> device_from_topic("owntracks/jane/phone"), device_from_topic("base/x/jane/phone/event")
    ('jane/phone', 'jane/phone')
    """
    if not isinstance(topic, str):
        return None
    parts = [p for p in topic.strip().split("/") if p]
    if not parts or parts == ["*"] or parts == ["-"]:
        return None
    if parts[0] == "owntracks" and len(parts) >= 3:
        return f"{parts[1]}/{parts[2]}"
    while len(parts) > 2 and parts[-1] in _TOPIC_SUFFIXES:
        parts.pop()
    return "/".join(parts[-2:])


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    try:
        return float(v)  # Decimal from ijson
    except (TypeError, ValueError):
        return None


def _known(v: Any) -> float | None:
    """A value where negative means unknown (OwnTracks writes -1)."""
    f = _number(v)
    return None if f is None or f < 0 else f


class _Reader:
    def __init__(self, ctx: ReadContext, path_device: str | None = None) -> None:
        self.ctx = ctx
        self.sink = ctx.sink
        self.path_device = path_device
        self.messages = 0  # OwnTracks messages seen (of any known type)
        self.foreign = 0  # records that are not OwnTracks messages at all

    def not_owntracks(self, pos: int, field: str | None, reason: str, raw: object = None) -> None:
        """Reject a record that is not (or no longer recognisably) an OwnTracks message."""
        if not (isinstance(raw, str) and '"_type"' in raw):
            self.foreign += 1  # a broken record that still names a '_type' counts as one of ours
        self.sink.reject(pos, field, reason, raw)

    def nothing_found(self) -> bool:
        """True when every record read was foreign: the input is not of this format."""
        return self.messages == 0 and self.foreign > 0 and self.foreign == self.sink.counts.read

    def device(self, msg: dict[str, Any], topic_device: str | None) -> str | None:
        d = topic_device or device_from_topic(msg.get("topic")) or self.path_device
        if d:
            return d
        tid = msg.get("tid")
        return str(tid).strip() if isinstance(tid, str | int) and str(tid).strip() else None

    def time(self, msg: dict[str, Any], pos: int, raw: object, fallback_us: int | None) -> int | None:
        tst = msg.get("tst")
        if tst is None and fallback_us is not None:
            return fallback_us
        v = _number(tst)
        if v is None:
            what = "missing" if tst is None else f"{str(tst)[:30]!r} is not a number"
            self.sink.reject(pos, "tst", f"time 'tst' {what}; expected epoch seconds", raw)
            return None
        try:
            return epoch_to_us(v)
        except (ValueError, OverflowError):
            self.sink.reject(pos, "tst", f"time 'tst' {tst!r} is not a finite number; expected epoch seconds")
            return None

    def message(
        self,
        obj: Any,
        pos: int,
        raw: object = None,
        topic_device: str | None = None,
        line_us: int | None = None,
    ) -> None:
        sink = self.sink
        raw = obj if raw is None else raw
        if not isinstance(obj, dict):
            self.not_owntracks(pos, None, "expected a JSON object (an OwnTracks message)", raw)
            return
        typ = obj.get("_type")
        if typ is not None and not isinstance(typ, str):
            self.not_owntracks(
                pos, "_type", f"'_type' is {repr(typ)[:40]}; expected a string such as 'location'", raw
            )
            return
        if typ in _KNOWN:
            self.messages += 1
        if typ == "location":
            self.location(obj, pos, raw, topic_device, line_us)
        elif typ == "transition":
            self.event(
                obj, pos, raw, topic_device, "transition", ("event", "desc", "wtst", "rid", "acc", "t", "tid")
            )
        elif typ == "waypoint":
            self.event(
                obj, pos, raw, topic_device, "waypoint", ("desc", "rad", "rid", "uuid", "major", "minor")
            )
        elif typ == "waypoints":
            wps = obj.get("waypoints")
            if not isinstance(wps, list):
                sink.reject(pos, "waypoints", "expected a list of waypoint messages", raw)
                return
            for wp in wps:
                if isinstance(wp, dict):
                    self.event(
                        wp,
                        pos,
                        wp,
                        topic_device,
                        "waypoint",
                        ("desc", "rad", "rid", "uuid", "major", "minor"),
                    )
                else:
                    sink.reject(pos, "waypoints", "expected a waypoint object", wp)
        elif typ == "encrypted":
            sink.reject(
                pos,
                "data",
                "encrypted OwnTracks payload; it can only be read with the device's secret key: decrypt it "
                "first (for example with the OwnTracks Recorder configured with that key)",
                raw,
            )
        elif typ is None:
            self.not_owntracks(
                pos, "_type", "not an OwnTracks message: no '_type'; expected e.g. '_type': 'location'", raw
            )
        # other types (lwt, card, status, cmd...) carry no position: skipped, not counted

    def location(
        self, msg: dict[str, Any], pos: int, raw: object, topic_device: str | None, line_us: int | None
    ) -> None:
        t_us = self.time(msg, pos, raw, line_us)
        if t_us is None:
            return
        coords: list[float] = []
        for key in ("lat", "lon"):
            v = msg.get(key)
            f = _number(v)
            if f is None:
                what = "missing" if v is None else f"{str(v)[:30]!r} is not a number"
                self.sink.reject(pos, key, f"'{key}' {what}; expected decimal degrees", raw)
                return
            coords.append(f)
        vel = _known(msg.get("vel"))
        self.sink.fix(
            pos,
            t_us,
            coords[0],
            coords[1],
            device=self.device(msg, topic_device),
            accuracy_m=_known(msg.get("acc")),
            altitude_m=_number(msg.get("alt")),
            speed_mps=None if vel is None else vel * KMH_MPS,
            course_deg=_known(msg.get("cog")),
        )

    def event(
        self,
        msg: dict[str, Any],
        pos: int,
        raw: object,
        topic_device: str | None,
        kind: str,
        keep: tuple[str, ...],
    ) -> None:
        t_us = self.time(msg, pos, raw, None)
        if t_us is None:
            return
        data = {k: msg[k] for k in keep if k in msg}
        self.sink.event(
            pos,
            t_us,
            kind,
            lat=_number(msg.get("lat")) if msg.get("lat") is not None else None,
            lon=_number(msg.get("lon")) if msg.get("lon") is not None else None,
            data=_plain(data),
            device=self.device(msg, topic_device),
        )


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Values JSON can write (ijson gives Decimal)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, str | int | float | bool) or v is None:
            out[k] = v
        else:
            f = _number(v)
            out[k] = f if f is not None else str(v)
    return out


# ---------------------------------------------------------------- .rec files
def _store_device(member: str) -> str | None:
    m = _STORE_PATH.search(member)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def _read_rec(stream: IO[bytes], ctx: ReadContext) -> None:
    reader = _Reader(ctx, _store_device(ctx.member))
    sink = ctx.sink
    for line in iter_lines(stream, ctx.options.max_record_bytes):
        if line.text is None:
            sink.reject(line.number, None, line.error or "unreadable line")
            continue
        text = line.text.strip()
        if not text:
            continue
        brace = text.find("{")
        if brace < 0:
            reader.not_owntracks(line.number, None, "expected 'time<TAB>topic<TAB>{json message}'", text)
            continue
        head = text[:brace]
        # Recorder lines are TAB-separated (a topic may then hold spaces); older ones use spaces
        prefix = [p.strip() for p in head.split("\t") if p.strip()] if "\t" in head else head.split()
        line_us: int | None = None
        if prefix:
            try:
                line_us = parse_iso(prefix[0])[0]
            except ValueError:
                line_us = None
        topic_device = device_from_topic(prefix[1]) if len(prefix) > 1 else None
        try:
            msg = json.loads(text[brace:])
        except ValueError as exc:
            reader.not_owntracks(
                line.number, None, f"the JSON message is broken ({exc}); expected one JSON object", text
            )
            continue
        reader.message(msg, line.number, text, topic_device, line_us)
    if reader.nothing_found():
        raise ctx.error("no OwnTracks message found; expected lines 'time<TAB>topic<TAB>{\"_type\": ...}'")


# --------------------------------------------------------------- JSON files
def _read_json(stream: IO[bytes], ctx: ReadContext) -> None:
    limit = ctx.options.max_record_bytes
    head, s = peek(stream, 1 << 16)
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    reader = _Reader(ctx)
    if body.startswith(b"["):
        for _prefix, pos, item in stream_items(s, ctx, ("item",)):
            reader.message(item, pos)
    elif body.startswith(b"{") and _API_REPLY.match(body) and _API_DATA.search(head):
        # the Recorder's HTTP API reply: {"count": n, "data": [messages...], ...}
        for _prefix, pos, item in stream_items(s, ctx, ("data.item",)):
            reader.message(item, pos)
    elif body.startswith(b"{"):
        first_line = body.split(b"\n", 1)[0].strip()
        try:
            one = json.loads(first_line)
        except ValueError:
            one = None
        if isinstance(one, dict):
            _json_lines(s, ctx, reader)
        else:
            _json_values(s, ctx, reader, limit)
    else:
        raise ctx.error("not JSON; expected an OwnTracks message, an array of them, or JSON lines")
    if reader.nothing_found():
        raise ctx.error("no OwnTracks message found; expected objects with '_type' such as 'location'")


def _json_lines(stream: IO[bytes], ctx: ReadContext, reader: _Reader) -> None:
    for line in iter_lines(stream, ctx.options.max_record_bytes):
        if line.text is None:
            ctx.sink.reject(line.number, None, line.error or "unreadable line")
            continue
        text = line.text.strip()
        if not text:
            continue
        try:
            msg = json.loads(text)
        except ValueError as exc:
            reader.not_owntracks(
                line.number, None, f"the JSON message is broken ({exc}); expected one JSON object", text
            )
            continue
        reader.message(msg, line.number, text)


def _json_values(stream: IO[bytes], ctx: ReadContext, reader: _Reader, limit: int) -> None:
    """One message spread over several lines (or a few such messages one after another)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        ctx.sink.reject(1, None, f"JSON document larger than {limit} bytes; expected one message per line")
        return
    text, err = decode_line(data)
    if text is None:
        ctx.sink.reject(1, None, err or "not UTF-8")
        return
    text = text.lstrip("\ufeff")
    dec = json.JSONDecoder()
    at = 0
    pos = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return
        pos += 1
        try:
            obj, at = dec.raw_decode(text, at)
        except ValueError as exc:
            reader.not_owntracks(
                pos,
                None,
                f"the JSON message is broken or truncated ({exc}); expected complete JSON",
                text[at:],
            )
            return
        reader.message(obj, pos)


# -------------------------------------------------------------------- sniff
def _sniff_rec(head: bytes, name: str) -> float:
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if _REC_LINE.match(body):
        return 0.95
    return 0.0


def _sniff_json(head: bytes, name: str) -> float:
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] not in (b"{", b"["):
        return 0.0
    if _TYPE.search(head):
        return 0.9
    return 0.0


register(
    Format(
        name="owntracks_rec",
        description="OwnTracks Recorder storage (.rec lines: time, topic, JSON message)",
        sniff=_sniff_rec,
        read=_read_rec,
        unit="line",
        extensions=(".rec",),
    )
)
register(
    Format(
        name="owntracks_json",
        description="OwnTracks JSON messages (one, an array, or JSON lines)",
        sniff=_sniff_json,
        read=_read_json,
        unit="record",
        extensions=(".json", ".jsonl"),
        aliases=("owntracks",),
    )
)
