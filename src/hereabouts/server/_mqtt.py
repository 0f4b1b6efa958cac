"""OwnTracks in MQTT mode: a subscriber that stores what the apps publish to a broker.

OwnTracks apps in MQTT mode publish JSON messages to ``owntracks/<user>/<device>`` (locations, and
``lwt``/``card``/``status`` messages that carry no position) and transition events to
``owntracks/<user>/<device>/event``. :class:`OwnTracksSubscriber` subscribes to both with QoS 1 and a
persistent session (``clean_session`` off, a fixed client id), so messages published while it was away
are delivered when it reconnects.

Every message goes through the same validation as the HTTP endpoint and into the store through the
same single writer (:class:`~hereabouts.server._writer.GroupWriter`). Acknowledgements are manual:
the broker gets the PUBACK of a message only after the writer's commit, so a message the broker
considers delivered is durable. A message that cannot be stored (the store failed) is retried and, if
the subscriber stops first, never acknowledged: the broker delivers it again on the next connection.

The device of a message is ``<user>/<device>`` from its topic (as for HTTP's ``X-Limit-U`` /
``X-Limit-D``). Encrypted payloads are opened with the device's key from ``owntracks_keys``.
Malformed messages (not JSON, no ``_type``, bad fields) are logged with their topic and counted;
record-level rejects are kept in the store's reject table like those of a file import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..io import ReadOptions
from ..model.errors import HereaboutsError, InputError
from ._errors import ApiError
from ._protocols import parse_owntracks
from ._writer import GroupWriter, Job, WriterBusy

log = logging.getLogger("hereabouts.server.mqtt")

#: Sub-topics of a device that carry messages worth storing; others (``cmd``, ``info``, ``waypoint``,
#: ``dump``...) are requests or app state and are skipped.
_STORED_SUBTOPICS = {"", "event"}


@dataclass
class SubscriberStats:
    """What the subscriber saw since it started (all counts)."""

    messages: int = 0
    stored: int = 0
    skipped: int = 0
    malformed: int = 0
    retried: int = 0
    last_error: str | None = None
    devices: set[str] = field(default_factory=set)


def parse_mqtt_url(url: str) -> dict[str, Any]:
    """Keyword arguments of :class:`OwnTracksSubscriber` from ``mqtt[s]://[user[:password]@]host[:port][/base]``.

    >>> parse_mqtt_url("mqtt://127.0.0.1:1883")["port"]
    1883
    >>> parse_mqtt_url("mqtts://me:pw@broker.example/tracks")["base"]
    'tracks'
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InputError(
            f"{url!r} is not an MQTT broker address",
            hint="expected mqtt://[user:password@]host[:port][/base-topic]",
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{url!r}: the port is not a number") from exc
    tls = parts.scheme == "mqtts"
    out: dict[str, Any] = {"host": parts.hostname, "port": port or (8883 if tls else 1883), "tls": tls}
    if parts.username:
        out["username"] = unquote(parts.username)
        out["password"] = unquote(parts.password) if parts.password else None
    if parts.path.strip("/"):
        out["base"] = parts.path.strip("/")
    return out


def device_of_topic(topic: str, base: str = "owntracks") -> tuple[str, str] | None:
    """``(user/device, sub-topic)`` of an OwnTracks topic under ``base``, or None when it is not one.

    >>> device_of_topic("owntracks/jane/phone")
    ('jane/phone', '')
    >>> device_of_topic("owntracks/jane/phone/event")
    ('jane/phone', 'event')
    >>> device_of_topic("elsewhere/jane/phone") is None
    True
    """
    parts = topic.split("/")
    base_parts = base.split("/")
    if parts[: len(base_parts)] != base_parts:
        return None
    rest = parts[len(base_parts) :]
    if len(rest) < 2 or not rest[0] or not rest[1]:
        return None
    return f"{rest[0]}/{rest[1]}", "/".join(rest[2:])


class OwnTracksSubscriber:
    """Subscribe to OwnTracks topics on an MQTT broker and store every message through ``writer``.

    ``base`` is the topic prefix the apps publish under (``owntracks`` unless the app's topic was
    changed). Call :meth:`start` (returns once subscribed, or raises :class:`InputError` naming the
    broker when it cannot connect within ``connect_timeout_s``) and :meth:`stop`.
    """

    def __init__(
        self,
        writer: GroupWriter,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        base: str = "owntracks",
        username: str | None = None,
        password: str | None = None,
        client_id: str = "hereabouts-ingest",
        owntracks_keys: Mapping[str, str] | None = None,
        tls: bool = False,
        commit_timeout_s: float = 30.0,
    ) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError as exc:  # pragma: no cover - depends on the installation
            from ..model.errors import MissingDependencyError

            raise MissingDependencyError(
                "MQTT ingest needs paho-mqtt", hint="pip install 'hereabouts[server]'"
            ) from exc
        self.writer = writer
        self.host, self.port, self.base = host, port, base.strip("/")
        self.keys = dict(owntracks_keys or {})
        self.commit_timeout_s = commit_timeout_s
        self.stats = SubscriberStats()
        self._subscribed = threading.Event()
        self._stopping = False
        self._connect_error: str | None = None
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if tls:
            client.tls_set()
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client = client

    # ------------------------------------------------------------ lifecycle
    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Connect, subscribe and start the network thread; returns once the broker confirmed the
        subscription."""
        try:
            self._client.connect(self.host, self.port, keepalive=60)
        except OSError as exc:
            raise InputError(
                f"cannot reach the MQTT broker at {self.host}:{self.port} ({exc})",
                hint="start Mosquitto (`systemctl start mosquitto` or `mosquitto -d`) or give --mqtt HOST:PORT",
            ) from exc
        self._client.loop_start()
        if not self._subscribed.wait(connect_timeout_s):
            self._client.loop_stop()
            reason = self._connect_error or "no subscription acknowledgement"
            raise InputError(f"MQTT broker at {self.host}:{self.port}: {reason}")
        log.info("subscribed to %s/+/+ and %s/+/+/event on %s:%d", self.base, self.base, self.host, self.port)

    def stop(self) -> None:
        """Disconnect (the broker keeps the session and queues what arrives meanwhile)."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> OwnTracksSubscriber:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ callbacks
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._connect_error = f"connection refused ({reason})"
            log.error("MQTT broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        client.subscribe([(f"{self.base}/+/+", 1), (f"{self.base}/+/+/event", 1)])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            self._connect_error = f"subscription refused ({reasons})"
            return
        self._subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not self._stopping:
            log.warning("MQTT connection to %s:%d lost (%s); reconnecting", self.host, self.port, reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        # acknowledgements are manual: a message is acknowledged once stored, or once judged not storable
        self.stats.messages += 1
        if self._handle(message):
            client.ack(message.mid, message.qos)

    def _handle(self, message: Any) -> bool:
        """Store one message; False when it was not stored and must not be acknowledged."""
        where = device_of_topic(message.topic, self.base)
        if where is None or where[1] not in _STORED_SUBTOPICS or not message.payload:
            self.stats.skipped += 1
            return True
        device, _sub = where
        try:
            parsed = parse_owntracks(
                bytes(message.payload),
                device=device,
                options=ReadOptions(default_device="owntracks"),
                key=self.keys.get(device),
            )
        except (ApiError, HereaboutsError) as exc:
            self.stats.malformed += 1
            self.stats.last_error = f"{message.topic}: {exc}"
            log.warning("MQTT %s: message not stored: %s", message.topic, exc)
            return True
        if parsed.counts.rejected:
            first = parsed.rejects[0] if parsed.rejects else {}
            log.warning(
                "MQTT %s: %d record(s) rejected (%s: %s)",
                message.topic,
                parsed.counts.rejected,
                first.get("field"),
                first.get("reason"),
            )
        if not parsed.has_rows:
            self.stats.skipped += 1
            return True
        self.stats.devices.add(device)
        return self._store(Job("owntracks_mqtt", parsed.tables, parsed.counts), message.topic)

    def _store(self, job: Job, topic: str) -> bool:
        delay = 0.05
        while not self._stopping:
            try:
                self.writer.submit(job).result(self.commit_timeout_s)
            except WriterBusy:
                pass
            except Exception as exc:
                self.stats.last_error = f"{topic}: {exc}"
                log.error("MQTT %s: the store failed (%s); retrying before acknowledging", topic, exc)
            else:
                self.stats.stored += 1
                return True
            self.stats.retried += 1
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            job = Job(job.protocol, job.tables, job.counts)
        return False
