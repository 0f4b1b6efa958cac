"""Ingest worker processes: HTTP parsing and validation spread over processes, one writer.

``hereabouts serve --workers N`` runs N worker processes that share the listening port (each binds it
with ``SO_REUSEPORT``, so the kernel spreads connections over them). A worker reads the ingest
requests, authenticates and validates them with the same handlers as the single-process server, and
hands each request's validated records to the **main process**, which owns the store and its single
writer (:class:`~hereabouts.server._writer.GroupWriter`), over a unix socket. The main process commits
the records of all workers in groups and acknowledges each request only after its group's commit; the
worker sends the HTTP 2xx only on that acknowledgement. If the main process dies, the workers die with
it (``PR_SET_PDEATHSIG``) and requests in flight are never acknowledged.

Every other request (the REST API, the web UI and its event streams) is passed unchanged to the main
process, which serves it on a second unix socket, so the workers need no access to the store: the
embedded store allows one process only. Ingest tokens of the accounts are looked up by the main
process and cached by each worker as long as the main process caches them
(:data:`~hereabouts.accounts.GRANT_CACHE_S`). The friends an OwnTracks reply tells of
(:mod:`~hereabouts.server._friends`) come from the main process too: a worker asks it for the view of
the device's workspace (members, ranked positions, tracker ids) and builds the replies of that
workspace's devices from it for :data:`~hereabouts.server._friends.REPLY_S`, as the main process
itself reuses it, so a fix costs no round trip on most requests.

The wire between the processes: frames of a 4-byte big-endian length and a pickle, between processes
of the same installation and user only (the sockets live in a private temporary directory).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from starlette.types import Message, Receive, Scope, Send

from .._db import Database
from ..accounts import GRANT_CACHE_S
from ..io._base import Counts
from ..model.errors import InputError, StoreError
from ._friends import CACHE_S, REPLY_S, View
from ._writer import GroupWriter, Job, WriterBusy

log = logging.getLogger("hereabouts.server")

_HEADER = struct.Struct(">I")


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=5)
    return _HEADER.pack(len(data)) + data


def _read_frame(f: Any) -> Any | None:
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = _HEADER.unpack(head)
    data = f.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


async def _replies(reader: asyncio.StreamReader, pending: dict[int, Any]) -> AsyncIterator[tuple[Any, Any]]:
    """The main process's replies on ``reader``, each with the future waiting for it (popped from
    ``pending``; replies nobody waits for any more are skipped), until the connection closes."""
    try:
        while True:
            head = await reader.readexactly(4)
            msg = pickle.loads(await reader.readexactly(_HEADER.unpack(head)[0]))
            future = pending.pop(msg[1], None)
            if future is not None and not future.done():
                yield msg, future
    except (asyncio.IncompleteReadError, OSError):
        return


# ------------------------------------------------------------------ the main process
class WriterService:
    """In the main process: takes the jobs of the worker processes (and their token look-ups) on a
    unix socket, one thread per connection, and feeds them to the writer; each job's acknowledgement
    (or error) goes back when its group has committed."""

    def __init__(
        self,
        writer: GroupWriter,
        path: str,
        grant: Callable[[str], str | None],
        friends: Callable[[str], Any] | None = None,
    ) -> None:
        self.writer = writer
        self.path = path
        self.grant = grant
        #: device -> the :class:`~._friends.View` of its workspace (or None), for OwnTracks replies
        self.friends = friends
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(64)
        self._conns: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="hereabouts-ingest-service", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(
                target=self._serve, args=(conn,), name="hereabouts-ingest-conn", daemon=True
            ).start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _serve(self, conn: socket.socket) -> None:
        lock = threading.Lock()

        def reply(obj: Any) -> None:
            data = _frame(obj)
            with lock, contextlib.suppress(OSError):  # a worker that went away gets no reply
                conn.sendall(data)

        def done(jid: int, future: concurrent.futures.Future[Counts]) -> None:
            exc = future.exception()
            if exc is None:
                reply(("ok", jid, future.result()))
            else:
                reply(("error", jid, f"{type(exc).__name__}: {exc}"))

        f = conn.makefile("rb", buffering=1 << 16)
        try:
            while True:
                msg = _read_frame(f)
                if msg is None:
                    return
                if msg[0] == "jobs":
                    for jid, protocol, tables, counts in msg[1]:
                        try:
                            future = self.writer.submit(Job(protocol, tables, counts))
                        except WriterBusy as exc:
                            reply(("busy", jid, str(exc)))
                            continue
                        except Exception as exc:  # the writer is closed: shutting down
                            reply(("error", jid, str(exc)))
                            continue
                        future.add_done_callback(functools.partial(done, jid))
                elif msg[0] == "grant":
                    try:
                        device = self.grant(msg[2])
                    except Exception:
                        log.exception("an ingest token could not be looked up")
                        device = None
                    reply(("grant", msg[1], device))
                elif msg[0] == "friends":
                    try:
                        view = self.friends(msg[2]) if self.friends is not None else None
                    except Exception as exc:
                        log.exception("the friends of a device could not be looked up")
                        reply(("friends-error", msg[1], f"{type(exc).__name__}: {exc}"))
                        continue
                    reply(("friends", msg[1], view))
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                f.close()
                conn.close()


@dataclass
class WorkerPool:
    """The worker processes of ``serve --workers``: started with the main process's settings, started
    again if one dies, stopped (gracefully: they finish the requests they hold) before the main
    process shuts its writer down."""

    count: int
    spec: dict[str, Any]
    procs: list[subprocess.Popen[bytes]]
    stopping: bool = False

    @classmethod
    def start(cls, count: int, spec: dict[str, Any]) -> WorkerPool:
        pool = cls(count, spec, [])
        pool.procs = [pool._spawn() for _ in range(count)]
        threading.Thread(target=pool._watch, name="hereabouts-worker-watch", daemon=True).start()
        return pool

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from hereabouts.server._workers import worker_main; worker_main()"],
            stdin=subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(self.spec).encode())  # tokens travel by pipe, never by argv/env
        proc.stdin.close()
        return proc

    def _watch(self) -> None:
        while not self.stopping:
            time.sleep(0.5)
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self.stopping:
                    log.error(
                        "ingest worker %d exited (code %s); starting another", proc.pid, proc.returncode
                    )
                    time.sleep(1.0)  # a worker that cannot start is not restarted in a tight loop
                    if not self.stopping:
                        self.procs[i] = self._spawn()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # uvicorn stops accepting and finishes open requests
        end = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve_workers(
    app: Any,
    *,
    host: str,
    port: int,
    workers: int,
    owntracks_keys: Mapping[str, str] | None,
    log_level: str,
    options: Mapping[str, Any],
) -> None:
    """Run ``app`` (the full app of :func:`~hereabouts.server._app.create_app`) in this process on a
    private unix socket, its writer fed by ``workers`` processes serving ``host:port``."""
    import uvicorn

    cfg = app.state.ingest
    tmp = tempfile.mkdtemp(prefix="hereabouts-serve-")
    os.chmod(tmp, 0o700)
    rpc_path = os.path.join(tmp, "writer.sock")
    http_path = os.path.join(tmp, "http.sock")

    def grant(token: str) -> str | None:
        if cfg.tokens is not None and token in cfg.tokens:
            return str(cfg.tokens[token])
        if cfg.accounts is None:
            return None
        g = cfg.accounts.ingest_grant(token)
        return g.device if g is not None else None

    if port == 0:
        raise InputError("serving with workers needs a port number (they all listen on it)")
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(socket, "AF_UNIX"):
        raise InputError(
            "worker processes need SO_REUSEPORT and unix sockets (Linux, BSD)", hint="serve without --workers"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # a port taken by another server: say so now
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc}") from exc
    friends = getattr(app.state, "friends", None)
    service = WriterService(
        cfg.writer, rpc_path, grant, friends.shipped_view if friends is not None else None
    )
    spec = {
        "host": host,
        "port": port,
        "rpc": rpc_path,
        "http": http_path,
        "parent": os.getpid(),
        "auth": cfg.tokens is not None,
        "friends": friends is not None,
        "keys": dict(owntracks_keys or {}),
        "max_body_bytes": cfg.max_body_bytes,
        "max_pending": max(1, cfg.writer._queue.maxsize // workers),
        "log_level": log_level,
    }
    pool: WorkerPool | None = None

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            nonlocal pool
            await super().startup(sockets)
            pool = WorkerPool.start(workers, spec)  # once this process serves what they pass on

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if pool is not None:  # the workers first: their last requests still need the writer
                await asyncio.to_thread(pool.stop)
            await super().shutdown(sockets)

    opts = {k: v for k, v in options.items() if k not in ("host", "port")}
    try:
        _Server(uvicorn.Config(app, uds=http_path, log_level=log_level, **opts)).run()
    finally:
        if pool is not None and not pool.stopping:
            pool.stop()
        service.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ a worker process
class RemoteWriter:
    """In a worker: the writer's stand-in. :meth:`submit` queues the job for the main process (the jobs
    of one event-loop turn go in one frame) and returns a future resolved by its acknowledgement."""

    def __init__(self, path: str, max_pending: int) -> None:
        self.path = path
        self.max_pending = max_pending
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Counts]] = {}
        self._out: list[tuple[int, str, Any, Counts]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(self.path, limit=1 << 20)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    def submit(self, job: Job) -> asyncio.Future[Counts]:
        if self._closed or self._writer is None:
            raise RuntimeError("the ingest writer is closed")
        if len(self._pending) >= self.max_pending:
            raise WriterBusy(
                f"{len(self._pending)} requests of this worker are already waiting for the store"
            )
        loop = asyncio.get_running_loop()
        jid = next(self._ids)
        future: asyncio.Future[Counts] = loop.create_future()
        self._pending[jid] = future
        self._out.append((jid, job.protocol, job.tables, job.counts))
        if len(self._out) == 1:
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self._writer is not None:
            self._writer.write(_frame(("jobs", out)))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        async for msg, future in _replies(reader, self._pending):
            if msg[0] == "ok":
                future.set_result(msg[2])
            elif msg[0] == "busy":
                future.set_exception(WriterBusy(msg[2]))
            else:
                future.set_exception(StoreError(f"the records could not be stored: {msg[2]}"))
        # the main process is gone: nothing waiting can be acknowledged any more
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(StoreError("the writer process is gone; nothing was stored"))
        self._pending.clear()
        log.error("the main process closed the ingest connection; this worker stops")
        os.kill(os.getpid(), signal.SIGTERM)

    async def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()


class RemoteGrants:
    """In a worker: the accounts' ingest-token look-up, answered by the main process and cached here
    as long as the accounts cache it there. Looked up on the event loop (a short blocking call per
    token and cache period, as the single-process server's own look-up is)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._ids = itertools.count(1)
        self._cache: dict[str, tuple[Any, float]] = {}

    def ingest_grant(self, token: str) -> Any:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(self.path)
                self._file = self._sock.makefile("rb")
            rid = next(self._ids)
            self._sock.sendall(_frame(("grant", rid, token)))
            msg = _read_frame(self._file)
        if msg is None:
            raise StoreError("the writer process is gone")
        device = msg[2]
        grant = _Grant(device) if device is not None else None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[token] = (grant, now + GRANT_CACHE_S)
        return grant


@dataclass(frozen=True)
class _Grant:
    device: str


class RemoteFriends:
    """In a worker: the OwnTracks replies of :class:`~hereabouts.server._friends.Friends`, built from
    the views of the workspaces (members, ranked positions, tracker ids) that the main process sends on
    request. A view serves every device of its workspace until it is :data:`~._friends.REPLY_S` old
    (counted from when the main process made it), so a worker asks about a workspace at most about
    once a second, whatever the number of its devices and fixes. The same rules as in one process: a
    device is only ever told of its own workspace (which an entity never leaves), ``[]`` when its user
    is no longer a member, when it belongs to no workspace (looked up again after
    :data:`~._friends.CACHE_S`) or when the main process does not answer within :attr:`timeout_s`."""

    def __init__(self, path: str, *, timeout_s: float = 2.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        #: device -> its workspace, as the main process said
        self._ws_of: dict[str, str] = {}
        #: device -> until when it is known to belong to no workspace
        self._none: dict[str, float] = {}
        #: workspace -> (its view, until when it is used)
        self._views: dict[str, tuple[View, float]] = {}
        #: the look-ups under way, by workspace (or by device when its workspace is not known yet)
        self._inflight: dict[str, asyncio.Future[View | None]] = {}
        self._pending: dict[int, asyncio.Future[View | None]] = {}
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        #: round trips made to the main process (for tests and monitoring)
        self.lookups = 0

    async def areply(self, device: str | None) -> list[dict[str, Any]]:
        """The reply to ``device`` (see :meth:`~hereabouts.server._friends.Friends.reply`)."""
        if device is None:
            return []
        now = time.monotonic()
        ws = self._ws_of.get(device)
        if ws is not None:
            hit = self._views.get(ws)
            if hit is not None and hit[1] > now:
                return hit[0].reply(device)
            key = "ws:" + ws
        else:
            until = self._none.get(device)
            if until is not None and until > now:
                return []
            key = "device:" + device
        future = self._inflight.get(key)
        if future is None:  # one look-up per workspace at a time, however many of its devices wait
            future = asyncio.ensure_future(self._fetch(device))
            self._inflight[key] = future
            future.add_done_callback(functools.partial(self._done, key))
        try:
            view = await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except Exception as exc:  # the reply is a courtesy: the fixes are stored already
            log.warning("no friends for an OwnTracks reply (%s: %s)", type(exc).__name__, exc)
            return []
        if view is None or (ws is not None and view.workspace != ws):
            return []
        return view.reply(device)

    def _done(self, key: str, future: asyncio.Future[View | None]) -> None:
        self._inflight.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved: a look-up whose waiters timed out logs nothing more

    async def _fetch(self, device: str) -> View | None:
        view = await self._call(device)
        now = time.monotonic()
        if len(self._ws_of) > 100_000:
            self._ws_of.clear()
        if len(self._none) > 100_000:
            self._none.clear()
        if len(self._views) > 10_000:
            self._views.clear()
        if view is None:
            self._none[device] = now + CACHE_S
        else:
            self._ws_of[device] = view.workspace
            self._views[view.workspace] = (view, view.made + REPLY_S)
        return view

    async def _call(self, device: str) -> View | None:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is None:
                reader, self._writer = await asyncio.open_unix_connection(self.path, limit=1 << 22)
                self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        rid = next(self._ids)
        future: asyncio.Future[View | None] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self.lookups += 1
        self._writer.write(_frame(("friends", rid, device)))
        return await future

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            async for msg, future in _replies(reader, self._pending):
                if msg[0] == "friends":
                    future.set_result(msg[2])
                else:
                    future.set_exception(StoreError(f"the main process could not look them up: {msg[2]}"))
        finally:  # the connection is gone: the next look-up opens another
            self._writer = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(StoreError("the connection to the main process closed"))
            self._pending.clear()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()


def proxy_to(path: str) -> Callable[[Scope, Receive, Send], Any]:
    """An ASGI app passing each HTTP request unchanged to the HTTP server on the unix socket ``path``
    and streaming its response back (event streams included; a client going away closes it)."""
    import httptools

    hop = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"upgrade"}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        head = [scope["method"].encode() + b" " + target + b" HTTP/1.1"]
        head += [k + b": " + v for k, v in scope["headers"] if k.lower() not in hop]
        client = scope.get("client")
        if client:
            head.append(b"x-forwarded-for: " + str(client[0]).encode())
        head += [b"content-length: %d" % len(body), b"connection: close"]
        try:
            reader, writer = await asyncio.open_unix_connection(path)
        except OSError:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        out: list[Message] = []
        state: dict[str, Any] = {"headers": [], "complete": False}

        class _Parser:
            def on_header(self, name: bytes, value: bytes) -> None:
                if name.lower() not in hop:
                    state["headers"].append((name.lower(), value))

            def on_headers_complete(self) -> None:
                out.append(
                    {
                        "type": "http.response.start",
                        "status": parser.get_status_code(),
                        "headers": state["headers"],
                    }
                )

            def on_body(self, data: bytes) -> None:
                out.append({"type": "http.response.body", "body": bytes(data), "more_body": True})

            def on_message_complete(self) -> None:
                state["complete"] = True

        parser = httptools.HttpResponseParser(_Parser())

        async def relay() -> None:
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            started = False
            while not state["complete"]:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed_data(data)
                while out:
                    started = True
                    await send(out.pop(0))
            if not started:  # the main process closed without an answer
                await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        task = asyncio.ensure_future(relay())
        watch = asyncio.ensure_future(gone())
        try:
            await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, httptools.HttpParserError):
                await task
            writer.close()

    return app


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def worker_main() -> None:
    """The entry point of a worker process: its settings come as JSON on stdin."""
    spec = json.loads(sys.stdin.read())
    _die_with_parent(int(spec["parent"]))
    import uvicorn

    from ._app import IngestApp, IngestConfig, _ingest_routes
    from ._serve import server_options

    logging.basicConfig(level=getattr(logging, str(spec["log_level"]).upper(), logging.INFO))
    writer = RemoteWriter(spec["rpc"], int(spec["max_pending"]))
    accounts = RemoteGrants(spec["rpc"]) if spec["auth"] else None
    friends = RemoteFriends(spec["rpc"]) if spec.get("friends") else None
    cfg = IngestConfig(
        cast(Database, None),
        {} if spec["auth"] else None,  # tokens, static or of the accounts, are checked by the main process
        spec["keys"],
        int(spec["max_body_bytes"]),
        cast(GroupWriter, writer),
        accounts=cast(Any, accounts),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await writer.start()
        try:
            yield
        finally:
            await writer.close()
            if friends is not None:
                await friends.close()

    app = IngestApp(routes=_ingest_routes(), lifespan=lifespan)
    app.state.ingest = cfg
    app.state.friends = friends
    app.fallback = proxy_to(spec["http"])

    family = socket.AF_INET6 if ":" in spec["host"] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((spec["host"], int(spec["port"])))
    opts = server_options()
    sock.listen(int(opts.pop("backlog", 2048)))
    sock.set_inheritable(True)
    uvicorn.Server(uvicorn.Config(app, log_level=spec["log_level"], **opts)).run(sockets=[sock])
