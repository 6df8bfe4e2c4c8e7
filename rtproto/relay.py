"""A recording relay: any Realtime client in front, the real API (or any server) behind.

Theory of operation
-------------------

A client connects to ``ws://HOST:PORT/v1/realtime?model=...`` (or
``/v1/realtime/translations``). During *its* opening handshake the relay:

1. answers 404 outside the Realtime paths, and 401 when a ``token`` is set and
   the client presents neither ``Authorization: Bearer <token>`` nor an
   ``api-key`` header or query value equal to it (``hmac.compare_digest``);
2. opens the upstream connection: the ``upstream`` URL's path plus whatever
   follows ``/v1/realtime`` in the client's path, the client's query without
   credential-like parameters, ``Authorization: Bearer <api_key>`` (the relay's
   own key, never the client's) and the client's ``OpenAI-Beta`` header if any;
3. answers the client with the upstream's HTTP status and (redacted) body when
   the upstream refuses (401, 429, 500, ...), or 502 when it cannot be reached;
   otherwise completes the client's handshake.

Each accepted connection then runs two pumps, one per direction, each
``message = await src.recv(); record(message); await dst.send(message)``.
Text frames stay text and binary frames stay binary; the payload bytes are
unchanged. Backpressure is websockets' own, in both directions: ``send``
waits while the destination's write buffer is above ``write_limit``, so the
pump stops calling ``recv``; the source's receive queue then fills to
``max_queue`` frames and websockets stops reading its socket, and TCP slows
the fast peer. What the relay holds per direction is thus bounded by about
``max_queue`` frames of at most ``max_frame`` bytes plus ``write_limit``
bytes (plus one socket read), whatever the peers do.

A pump ends when its source closes (or its destination fails a send). The
closed side's close frame is mirrored on the other side: same code, same
reason; a close frame without a status is mirrored as one, and a connection
dropped without a close frame (1006) is mirrored by dropping the other side.
The side that closed first is recorded as ``by`` in the transcript's final
``connection.closed`` line and the session line is printed.

With ``record_dir`` every connection is recorded as one ``transcript/1`` file
through :class:`~rtproto.transcript.TranscriptWriter`, whose
:class:`~rtproto.redact.Secrets` know the relay's API key and token; client
``Authorization`` headers are never forwarded, recorded or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

from rtproto.console import printable
from rtproto.redact import Secrets
from rtproto.server import wire_log  # the websockets logger, header values redacted
from rtproto.server import DEFAULT_MAX_FRAME, REALTIME_PATHS, Listening, port_number
from rtproto.transcript import CONNECTION_CLOSED, TranscriptWriter

__all__ = ["DEFAULT_UPSTREAM", "Relay", "RelayedSession", "add_relay_parser", "cli_relay", "requires_token"]

#: Where the relay connects unless told otherwise.
DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"
_BASE_PATH = REALTIME_PATHS[0]
_CREDENTIAL_PARAMS = frozenset({"api-key", "api_key", "apikey", "key", "token", "access_token", "authorization"})
_ABNORMAL, _NO_STATUS = 1006, 1005


def requires_token(host: str) -> bool:
    """Whether binding ``host`` needs a client token: anything but a loopback address does."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True  # a host name may resolve to anything


def _token_presented(request: Request, token: str) -> bool:
    # Any one of the places the SDKs put a key: bearer header, api-key header, api-key query.
    candidates = [v.removeprefix("Bearer ") for v in request.headers.get_all("Authorization")]
    candidates += request.headers.get_all("api-key")
    candidates += [v for k, v in parse_qsl(urlsplit(request.path).query) if k == "api-key"]
    expected = token.encode()
    return any(hmac.compare_digest(c.encode(), expected) for c in candidates)


def upstream_url(upstream: str, client_path: str) -> str:
    """The upstream URL for a client's request path: suffix and query kept, credentials dropped."""
    client = urlsplit(client_path)
    base = urlsplit(upstream)
    suffix = client.path.removeprefix(_BASE_PATH)
    query = [(k, v) for k, v in parse_qsl(client.query, keep_blank_values=True)
             if k.lower() not in _CREDENTIAL_PARAMS]
    query += parse_qsl(base.query, keep_blank_values=True)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + suffix, urlencode(query), ""))


@dataclass
class RelayedSession:
    """One client connection: its upstream, counters, buffer high-water marks and close."""

    number: int
    model: str | None
    api: str
    started: float = field(default_factory=time.monotonic)
    frames: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    tokens: int = 0
    #: Most frames seen waiting in the relay's receive queue of each source side.
    queue_high_water: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    #: Most bytes seen in the write buffer towards each destination (keyed by source side).
    write_high_water: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    closed_by: str | None = None
    close_code: int | None = None
    close_reason: str = ""
    recording: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _sources: dict[str, Any] = field(default_factory=dict, repr=False)

    def queued(self, side: str) -> int:
        """Frames from ``side`` ("client" or "server") waiting in the relay right now."""
        source = self._sources.get(side)
        return 0 if source is None else _queued_frames(source)

    def line(self) -> str:
        """The one line printed when the session ends."""
        seconds = time.monotonic() - self.started
        text = (f"session {self.number}: model {self.model or '?'}, {seconds:.1f} s, "
                f"{self.frames['client']} frames client->server, {self.frames['server']} server->client, "
                f"{self.tokens} tokens, closed by {self.closed_by} ({self.close_code})")
        return text + (f", recorded to {self.recording}" if self.recording else "")


@dataclass
class _Pending:
    # What the handshake learnt, for the connection handler.
    upstream: ClientConnection
    session: RelayedSession
    url: str


class Relay(Listening):
    """A websocket server that relays Realtime sessions to ``upstream`` and records them.

    ``api_key`` goes upstream as ``Authorization: Bearer``; ``token``, when set, is
    what clients must present (see :func:`requires_token`). ``record_dir`` gets one
    ``transcript/1`` file per connection. ``max_frame`` bounds a frame (bytes)
    both ways; ``max_queue`` (frames) and ``write_limit`` (bytes) bound what is
    held per direction. ``on_session(session)`` is called when a session ends.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, upstream: str = DEFAULT_UPSTREAM,
                 api_key: str | None = None, token: str | None = None, record_dir: str | None = None,
                 max_frame: int = DEFAULT_MAX_FRAME, max_queue: int = 16, write_limit: int = 2**15,
                 on_session: Any = None):
        self.host, self.upstream, self.record_dir = host, upstream, record_dir
        self.max_frame, self.max_queue, self.write_limit = max_frame, max_queue, write_limit
        self.secrets = Secrets([api_key, token])
        self.sessions: list[RelayedSession] = []
        self._port, self._api_key, self._token = port, api_key, token
        self._on_session = on_session
        self._pending: dict[ServerConnection, _Pending] = {}
        self._numbers = itertools.count(1)
        self._server: Server | None = None

    async def start(self) -> Relay:
        """Start listening; returns ``self``."""
        if self.record_dir:
            os.makedirs(self.record_dir, exist_ok=True)
        self._server = await serve(
            self._handle, self.host, self._port, process_request=self._handshake,
            process_response=self._drop_refused, max_size=self.max_frame, max_queue=self.max_queue,
            write_limit=self.write_limit, compression=None, logger=wire_log)
        return self

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/v1/realtime``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{_BASE_PATH}"

    # -- the handshake -------------------------------------------------------

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path not in REALTIME_PATHS:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no Realtime endpoint at {path}\n")
        if self._token is not None and not _token_presented(request, self._token):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong relay token\n")
        url = upstream_url(self.upstream, request.path)
        beta = request.headers.get("OpenAI-Beta")
        try:
            upstream = await self._connect(url, beta)
        except InvalidStatus as exc:
            body = self.secrets.raw_text(exc.response.body.decode("utf-8", "replace"))
            return connection.respond(exc.response.status_code, body or "upstream refused\n")  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - whatever failed, the client gets a 502
            wire_log.warning("upstream unreachable: %s", self.secrets.text(str(exc)))
            return connection.respond(HTTPStatus.BAD_GATEWAY, "upstream unreachable\n")
        self._pending[connection] = _Pending(upstream, self._new_session(request, beta), url)
        return None

    async def _connect(self, url: str, beta: str | None) -> ClientConnection:
        headers = {}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if beta:
            headers["OpenAI-Beta"] = beta
        return await connect(url, additional_headers=headers, max_size=self.max_frame, max_queue=self.max_queue,
                             write_limit=self.write_limit, compression=None, logger=wire_log)

    def _new_session(self, request: Request, beta: str | None) -> RelayedSession:
        parts = urlsplit(request.path)
        model = dict(parse_qsl(parts.query)).get("model")
        api = "translation" if parts.path != _BASE_PATH else "beta" if beta and "realtime=v1" in beta else "ga"
        return RelayedSession(next(self._numbers), model, api)

    async def _drop_refused(self, connection: ServerConnection, request: Request, response: Response) -> None:
        # A handshake that fails after the upstream was opened must not leak the upstream.
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS and connection in self._pending:
            await self._pending.pop(connection).upstream.close()

    # -- a connection ----------------------------------------------------------

    async def _handle(self, client: ServerConnection) -> None:
        pending = self._pending.pop(client)
        session, upstream = pending.session, pending.upstream
        session._sources.update(client=client, server=upstream)
        self.sessions.append(session)
        writer = self._open_recording(session, pending.url)
        pumps = [asyncio.create_task(self._pump(client, upstream, "client", session, writer)),
                 asyncio.create_task(self._pump(upstream, client, "server", session, writer))]
        try:
            await asyncio.gather(*pumps)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            await upstream.close()
            self._finish(session, writer)

    async def _pump(self, src: Any, dst: Any, side: str, session: RelayedSession,
                    writer: TranscriptWriter | None) -> None:
        # side: who sent what this pump reads ("client" or "server").
        record = None if writer is None else writer.client if side == "client" else writer.server
        closed = src
        try:
            while True:
                message = await src.recv()
                session.frames[side] += 1
                if record is not None:
                    record(message)
                if side == "server":
                    session.tokens += _usage_tokens(message)
                _note_buffers(session, side, src, dst)
                closed = dst
                await dst.send(message)
                closed = src
        except ConnectionClosed:
            pass
        if closed is src:
            await self._mirror_close(src, dst, side, session)
        else:
            await self._mirror_close(dst, src, _other(side), session)

    async def _mirror_close(self, closed: Any, other: Any, by: str, session: RelayedSession) -> None:
        if session.closed_by is None:
            rcvd = closed.protocol.close_rcvd
            session.closed_by = by
            session.close_code = rcvd.code if rcvd is not None else _ABNORMAL
            session.close_reason = rcvd.reason if rcvd is not None else ""
        await closed.wait_closed()
        rcvd = closed.protocol.close_rcvd
        if rcvd is None:
            other.transport.abort()  # dropped without a close frame: drop the other side too
        elif rcvd.code == _NO_STATUS:
            await other.close(None, "")  # type: ignore[arg-type]  # an empty close frame
        else:
            await other.close(rcvd.code, rcvd.reason)

    # -- recording and reporting -------------------------------------------------

    def _open_recording(self, session: RelayedSession, url: str) -> TranscriptWriter | None:
        if not self.record_dir:
            return None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = os.path.join(self.record_dir, f"relay-{stamp}-{os.getpid()}-{session.number:04d}.jsonl")
        try:
            writer = TranscriptWriter.open(path, api=session.api, url=url, model=session.model,
                                           secrets=self.secrets, relay=True)
        except OSError as exc:
            wire_log.warning("cannot record session %d: %s", session.number, exc.strerror or exc)
            return None
        session.recording = path
        return writer

    def _finish(self, session: RelayedSession, writer: TranscriptWriter | None) -> None:
        if writer is not None:
            writer.local({"type": CONNECTION_CLOSED, "code": session.close_code,
                          "reason": session.close_reason, "by": session.closed_by})
            writer.close()
        session.done.set()
        if self._on_session is not None:
            self._on_session(session)


def _other(side: str) -> str:
    return "server" if side == "client" else "client"


def _note_buffers(session: RelayedSession, side: str, src: Any, dst: Any) -> None:
    queued = _queued_frames(src)
    if queued > session.queue_high_water[side]:
        session.queue_high_water[side] = queued
    buffered = dst.transport.get_write_buffer_size()
    if buffered > session.write_high_water[side]:
        session.write_high_water[side] = buffered


def _queued_frames(connection: Any) -> int:
    # websockets keeps received frames in its own queue (`recv_messages.frames`), which it
    # bounds by pausing the socket above max_queue; its length is what the relay holds.
    return len(connection.recv_messages.frames)


def _usage_tokens(message: str | bytes) -> int:
    # Only response.done frames are parsed; every other frame costs one substring scan.
    marker = '"response.done"' if isinstance(message, str) else b'"response.done"'
    if marker not in message:  # type: ignore[operator]
        return 0
    try:
        event = orjson.loads(message)
        total = event["response"]["usage"]["total_tokens"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return 0
    return total if type(total) is int and event.get("type") == "response.done" else 0


# ---------------------------------------------------------------------------
# The command line


def add_relay_parser(sub: Any) -> None:
    """Add the ``relay`` subcommand to an argparse subparsers object."""
    p = sub.add_parser("relay", help="relay any Realtime client to the API and record its sessions",
                       description="Listen at ws://HOST:PORT/v1/realtime, relay each connection upstream with "
                                   "this machine's OPENAI_API_KEY and record one transcript per connection.")
    _relay_arguments(p)


def _relay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (anything but loopback needs --token)")
    p.add_argument("--port", type=port_number, default=8765, help="port to bind (0 picks a free one)")
    p.add_argument("--record", metavar="DIR", help="record one transcript per connection into DIR")
    p.add_argument("--upstream", default=DEFAULT_UPSTREAM, help=f"Realtime endpoint (default {DEFAULT_UPSTREAM})")
    p.add_argument("--token", help="the bearer token clients must present (required off loopback)")


async def cli_relay(args: Any) -> int:
    """The ``relay`` subcommand: relay until cancelled; 2 for a bind that would need a missing ``--token``."""
    if requires_token(args.host) and not args.token:
        print(f"error: binding {printable(args.host)} exposes your API key: add --token", file=sys.stderr)
        return 2
    api_key = os.environ.get("OPENAI_API_KEY")
    if not api_key:
        print("warning: OPENAI_API_KEY is not set; the upstream gets no key", file=sys.stderr)
    secrets = Secrets([api_key, args.token])

    def report(session: RelayedSession) -> None:
        print(printable(secrets.text(session.line())), flush=True)

    relay = Relay(host=args.host, port=args.port, upstream=args.upstream, api_key=api_key, token=args.token,
                  record_dir=args.record, on_session=report)
    try:
        await relay.start()
    except OSError as exc:
        print(f"error: cannot listen on {printable(args.host)}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        print(f"listening on {relay.url}", flush=True)
        await asyncio.Future()
    finally:
        await relay.close()
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m rtproto.relay")
    _relay_arguments(_parser)
    try:
        sys.exit(asyncio.run(cli_relay(_parser.parse_args())))
    except KeyboardInterrupt:
        sys.exit(0)
