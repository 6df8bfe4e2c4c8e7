"""A recording relay: any Realtime client in front, the real API (or any server) behind.

Theory of operation
-------------------

A client connects to ``ws://HOST:PORT/v1/realtime?model=...`` (or
``/v1/realtime/translations``). During *its* opening handshake the relay:

1. answers 404 outside the Realtime paths, and 401 when a ``token`` is set and
   the client presents it nowhere: not as ``Authorization: Bearer <token>``,
   an ``api-key`` header or query value, nor (browsers cannot set headers) as
   the subprotocol ``openai-insecure-api-key.<token>``; every comparison is
   ``hmac.compare_digest``;
2. opens the upstream connection: the ``upstream`` URL's path plus whatever
   follows ``/v1/realtime`` in the client's path, the client's query without
   credential-like parameters, ``Authorization: Bearer <api_key>`` (the relay's
   own key, never the client's) and the client's ``OpenAI-Beta`` header if any
   (the subprotocol ``openai-beta.realtime-v1`` counts as ``realtime=v1``);
   no subprotocol goes upstream;
3. answers the client with the upstream's HTTP status and (redacted) body when
   the upstream refuses (401, 429, 500, ...), or 502 when it cannot be reached;
   otherwise completes the client's handshake, choosing the subprotocol
   ``realtime`` when the client offers it.

Both connections are :class:`~rtproto._wsio.WebSocketIO` ends around
websockets' sans-I/O protocols (a ``ServerProtocol`` towards the client, a
``ClientProtocol`` upstream), joined at their socket callbacks: each whole
message an end cuts out of a socket read is counted, recorded and written to
the other end's transport within that same callback. No task, future, lock or
queue stands between a read and the write that forwards it; websockets' parser
sees only handshakes, control frames and frames it must judge. Text frames
stay text and binary frames binary; the payload bytes are unchanged (frames
towards the upstream are masked with the relay's own keys).

Backpressure is in bytes. When an end's write buffer rises above
``write_limit`` the relay stops reading the *other* end's socket, and reads it
again once the buffer has drained below a quarter of that; TCP then slows
the fast peer. What the relay holds per direction is thus at most
``write_limit`` bytes plus one socket read, plus the frame being assembled
(at most ``max_frame`` bytes), whatever the peers do: a slow side slows the
other and memory does not grow.

A close frame from either side is mirrored on the other: same code, same
reason, and a close frame without a status as one; a connection dropped
without a close frame (1006) is mirrored by dropping the other side. The side
that closed first is recorded as ``by`` in the transcript's final
``connection.closed`` line, and the session line is printed once both
connections are gone.

With ``record_dir`` every connection is recorded as one ``transcript/1`` file
through :class:`~rtproto.transcript.TranscriptWriter`, whose
:class:`~rtproto.redact.Secrets` know the relay's API key and token; client
``Authorization`` headers and ``openai-insecure-api-key`` subprotocols are
never forwarded, recorded or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hmac
import ipaddress
import itertools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.exceptions import InvalidStatus
from websockets.http11 import USER_AGENT, Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from rtproto._wsio import HANDSHAKE, PEER_BUSY, WebSocketIO, open_websocket
from rtproto.console import printable
from rtproto.redact import Secrets
from rtproto.server import wire_log  # the websockets logger, header values redacted
from rtproto.server import DEFAULT_MAX_FRAME, KEY_SUBPROTOCOL, REALTIME_PATHS, Listening, port_number
from rtproto.transcript import CONNECTION_CLOSED, TranscriptWriter

__all__ = ["DEFAULT_UPSTREAM", "Relay", "RelayedSession", "add_relay_parser", "cli_relay", "requires_token"]

#: Where the relay connects unless told otherwise.
DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"
_BASE_PATH = REALTIME_PATHS[0]
_CREDENTIAL_PARAMS = frozenset({"api-key", "api_key", "apikey", "key", "token", "access_token", "authorization"})
_ABNORMAL, _NO_STATUS, _GOING_AWAY = 1006, 1005, 1001
#: The subprotocols a browser offers (it cannot set headers): its key, and the beta API's flag.
BETA_SUBPROTOCOL, REALTIME_SUBPROTOCOL = "openai-beta.realtime-v1", "realtime"
OPEN_TIMEOUT = 10.0  # seconds a client's opening handshake (and the upstream's) may take
SESSIONS_KEPT = 1000  # the newest sessions Relay.sessions keeps (a relay may run for months)
CLOSE_TIMEOUT = 10.0  # seconds a closing handshake may take before TCP is dropped
PING_INTERVAL = PING_TIMEOUT = 20.0  # seconds, both ways (websockets' defaults)
_DONE = b'"response.done"'


def requires_token(host: str) -> bool:
    """Whether binding ``host`` needs a client token: anything but a loopback address does."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True  # a host name may resolve to anything


def offered_subprotocols(request: Request) -> list[str]:
    """The subprotocols a client's request offers, in order."""
    return [p.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol") for p in value.split(",")]


def _token_presented(request: Request, token: str) -> bool:
    # Any one of the places the SDKs put a key: bearer header, api-key header, api-key query, and the
    # subprotocol a browser puts it in.
    candidates = [v.removeprefix("Bearer ") for v in request.headers.get_all("Authorization")]
    candidates += request.headers.get_all("api-key")
    candidates += [v for k, v in parse_qsl(urlsplit(request.path).query) if k == "api-key"]
    candidates += [p[len(KEY_SUBPROTOCOL):] for p in offered_subprotocols(request) if p.startswith(KEY_SUBPROTOCOL)]
    expected = token.encode()
    return any(hmac.compare_digest(c.encode(), expected) for c in candidates)


def _beta_header(request: Request) -> str | None:
    beta = request.headers.get("OpenAI-Beta")
    if beta is None and BETA_SUBPROTOCOL in offered_subprotocols(request):
        return "realtime=v1"
    return beta


def _choose_subprotocol(protocol: ServerProtocol, offered: Any) -> str | None:
    # Answer "realtime" when offered (as the API does); never a key, never a refusal.
    return REALTIME_SUBPROTOCOL if REALTIME_SUBPROTOCOL in offered else None


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
    #: Most bytes seen in the write buffer towards the other side, keyed by the side that sent them.
    write_high_water: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    closed_by: str | None = None
    close_code: int | None = None
    close_reason: str = ""
    recording: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _ends: dict[str, _End] = field(default_factory=dict, repr=False)

    def held(self, side: str) -> int:
        """Bytes sent by ``side`` ("client" or "server") that the relay holds right now.

        That is the part of a frame read and not yet whole, plus the write
        buffer towards the other side.
        """
        source, other = self._ends.get(side), self._ends.get(_other(side))
        if source is None or other is None:
            return 0
        return source.partial_bytes() + other.buffered()

    def waiting(self, side: str) -> bool:
        """Whether the relay has stopped reading ``side`` because the other side is not keeping up."""
        end = self._ends.get(side)
        return end is not None and bool(end.reading_stopped & PEER_BUSY)

    def line(self) -> str:
        """The one line printed when the session ends."""
        seconds = time.monotonic() - self.started
        text = (f"session {self.number}: model {self.model or '?'}, {seconds:.1f} s, "
                f"{self.frames['client']} frames client->server, {self.frames['server']} server->client, "
                f"{self.tokens} tokens, closed by {self.closed_by} ({self.close_code})")
        return text + (f", recorded to {self.recording}" if self.recording else "")


class _End(WebSocketIO):
    """One connection of a relayed session; every message it receives is written to its ``peer``.

    ``side`` is who sent what this end receives: ``"client"`` for the end
    facing the client, ``"server"`` for the upstream's. Until :meth:`join`,
    received messages are held (the upstream's first events may arrive before
    the client's handshake is answered; reading stops meanwhile).
    """

    peer: _End | None = None
    write_limit = 2**16  # bytes: the write buffer's high-water mark
    side = "client"
    session: RelayedSession | None = None
    _record: Callable[[bytes], None] | None = None
    _held: list[tuple[bytes, bool]] | None = None
    _batch: list[bytes] | None = None  # frames for the peer, while a socket read is being cut

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.set_write_buffer_limits(high=self.write_limit)  # type: ignore[attr-defined]
        super().connection_made(transport)

    def join(self, peer: _End, side: str, session: RelayedSession, record: Callable[[bytes], None] | None) -> None:
        """Forward from now on to ``peer``, counting in ``session`` and recording with ``record``."""
        self.peer, self.side, self.session, self._record = peer, side, session, record
        for frame, text in self._held or ():
            self._push(frame, text)
        self._held = None
        if self.ended:
            self._mirror_close()
        self.start_reading(HANDSHAKE)

    def buffer_updated(self, nbytes: int) -> None:
        # The messages of one socket read leave in one write: a send costs far more than a copy.
        self._batch = []
        try:
            super().buffer_updated(nbytes)
        finally:
            self._flush_batch()
            self._batch = None

    def _flush_batch(self) -> None:
        batch = self._batch
        if batch:
            self._batch = []
            if self.peer.protocol.state is State.OPEN:
                self._write_peer(batch[0] if len(batch) == 1 else b"".join(batch))

    def _push(self, frame: bytes, text: bool) -> None:
        # The hot path: called from data_received for each whole message.
        peer = self.peer
        if peer is None:
            if self._held is None:
                self._held = []
            self._held.append((frame, text))
            return
        session, side = self.session, self.side
        session.frames[side] += 1
        if self._record is not None:
            self._record(frame)
        if side == "server" and _DONE in frame:
            session.tokens += _usage_tokens(frame)
        if peer.protocol.state is State.OPEN:
            if self._batch is not None:
                self._batch.append(peer.encode_message(frame, text))
            else:
                self._write_peer(peer.encode_message(frame, text))

    def _write_peer(self, data: bytes) -> None:
        peer = self.peer
        peer._transport.write(data)
        if peer.paused:  # above write_limit: only now can the high-water mark rise
            buffered, marks = peer.buffered(), self.session.write_high_water
            if buffered > marks[self.side]:
                marks[self.side] = buffered

    # -- backpressure: a full write buffer stops the other side's reads -------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.peer is not None:
            self.peer.stop_reading(PEER_BUSY)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.peer is not None:
            self.peer.start_reading(PEER_BUSY)

    # -- closing: mirrored on the other side ------------------------------------------

    def _after_feed(self) -> None:
        super()._after_feed()
        if self.ended and self.peer is not None:
            self._mirror_close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.peer is not None:
            self._mirror_close()
            self.peer.start_reading(PEER_BUSY)  # nothing will drain towards this end any more

    def _mirror_close(self) -> None:
        # The first side to end decides how the other one ends.
        session = self.session
        if session.closed_by is not None:
            return
        rcvd = self.protocol.close_rcvd
        session.closed_by = self.side
        session.close_code = rcvd.code if rcvd is not None else _ABNORMAL
        session.close_reason = rcvd.reason if rcvd is not None else ""
        self._flush_batch()  # the messages before the close frame go first
        if rcvd is None:
            self.peer.abort()  # dropped without a close frame: drop the other side too
        else:
            self.peer.start_close(None if rcvd.code == _NO_STATUS else rcvd.code, rcvd.reason)


def _usage_tokens(message: bytes) -> int:
    # Only frames that mention response.done are parsed; every other frame costs one substring scan.
    try:
        event = orjson.loads(message)
        total = event["response"]["usage"]["total_tokens"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return 0
    return total if type(total) is int and event.get("type") == "response.done" else 0


def _other(side: str) -> str:
    return "server" if side == "client" else "client"


class Relay(Listening):
    """A websocket server that relays Realtime sessions to ``upstream`` and records them.

    ``api_key`` goes upstream as ``Authorization: Bearer``; ``token``, when set, is
    what clients must present (see :func:`requires_token`). ``record_dir`` gets one
    ``transcript/1`` file per connection. ``max_frame`` bounds a frame (bytes)
    both ways; ``write_limit`` (bytes) is the write buffer towards each side
    above which the relay stops reading the other. ``on_session(session)`` is
    called when a session ends.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, upstream: str = DEFAULT_UPSTREAM,
                 api_key: str | None = None, token: str | None = None, record_dir: str | None = None,
                 max_frame: int = DEFAULT_MAX_FRAME, write_limit: int = 2**16, on_session: Any = None):
        self.host, self.upstream, self.record_dir = host, upstream, record_dir
        self.max_frame, self.write_limit = max_frame, write_limit
        self.secrets = Secrets([api_key, token])
        self.sessions: collections.deque[RelayedSession] = collections.deque(maxlen=SESSIONS_KEPT)
        self._port, self._api_key, self._token = port, api_key, token
        self._on_session = on_session
        self._numbers = itertools.count(1)
        self._server: asyncio.Server | None = None  # type: ignore[assignment]
        self._connections: dict[_End, asyncio.Task[None]] = {}

    async def start(self) -> Relay:
        """Start listening; returns ``self``."""
        if self.record_dir:
            os.makedirs(self.record_dir, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, self.host, self._port)
        return self

    async def close(self) -> None:
        """Stop listening; close open sessions with 1001 both ways and wait until they have ended."""
        if self._server is None:
            return
        self._server.close()
        for end, task in list(self._connections.items()):
            if end.peer is None:
                task.cancel()  # still in its handshake
                end.abort()
            else:
                end.start_close(_GOING_AWAY, "")
                end.peer.start_close(_GOING_AWAY, "")
        await asyncio.gather(*self._connections.values(), return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/v1/realtime``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{_BASE_PATH}"

    # -- a connection ----------------------------------------------------------------

    def _accept(self) -> _End:
        protocol = ServerProtocol(select_subprotocol=_choose_subprotocol, max_size=self.max_frame, logger=wire_log)
        client = self._end(protocol)
        task = asyncio.get_running_loop().create_task(self._serve(client))
        self._connections[client] = task
        task.add_done_callback(lambda _: self._connections.pop(client, None))
        return client

    def _end(self, protocol: Any) -> _End:
        end = _End(protocol, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
        end.close_timeout, end.write_limit = CLOSE_TIMEOUT, self.write_limit
        return end

    async def _serve(self, client: _End) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                request = await client.handshake()
        except Exception as exc:  # noqa: BLE001 - not a websocket client: one log line, never a traceback
            wire_log.info("opening handshake failed: %s", self.secrets.text(f"{type(exc).__name__}: {exc}"))
            client.abort()
            return
        response, upstream, session, url = await self._answer(client, request)
        client.respond(response)
        if upstream is None:
            return
        if client.protocol.state is not State.OPEN:  # the client went away meanwhile
            upstream.abort()
            return
        await self._relay(client, upstream, session, url)

    async def _relay(self, client: _End, upstream: _End, session: RelayedSession, url: str) -> None:
        client.start_keepalive()
        self.sessions.append(session)
        session._ends.update(client=client, server=upstream)
        writer = self._open_recording(session, url)
        client.join(upstream, "client", session, None if writer is None else writer.client)
        upstream.join(client, "server", session, None if writer is None else writer.server)
        try:
            await client.wait_closed()
            await upstream.wait_closed()
        finally:
            upstream.abort()
            self._finish(session, writer)

    # -- the handshake ---------------------------------------------------------------

    async def _answer(self, client: _End, request: Request) -> tuple[Response, _End | None, Any, str]:
        # The response to the client's request and, when it is a 101, the upstream ready to join.
        protocol = client.protocol
        path = urlsplit(request.path).path
        if path not in REALTIME_PATHS:
            return protocol.reject(HTTPStatus.NOT_FOUND, f"no Realtime endpoint at {path}\n"), None, None, ""
        if self._token is not None and not _token_presented(request, self._token):
            return protocol.reject(HTTPStatus.UNAUTHORIZED, "missing or wrong relay token\n"), None, None, ""
        accepted = protocol.accept(request)
        if accepted.status_code != HTTPStatus.SWITCHING_PROTOCOLS:  # not a valid websocket request
            return accepted, None, None, ""
        url, beta = upstream_url(self.upstream, request.path), _beta_header(request)
        try:
            upstream = await self._connect(url, beta)
        except InvalidStatus as exc:
            body = self.secrets.raw_text(exc.response.body.decode("utf-8", "replace"))
            return protocol.reject(exc.response.status_code, body or "upstream refused\n"), None, None, ""
        except Exception as exc:  # noqa: BLE001 - whatever failed, the client gets a 502
            wire_log.warning("upstream unreachable: %s", self.secrets.text(str(exc) or type(exc).__name__))
            return protocol.reject(HTTPStatus.BAD_GATEWAY, "upstream unreachable\n"), None, None, ""
        return accepted, upstream, self._new_session(request, beta), url

    async def _connect(self, url: str, beta: str | None) -> _End:
        headers = {}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if beta:
            headers["OpenAI-Beta"] = beta
        upstream = await open_websocket(url, headers, user_agent=USER_AGENT, open_timeout=OPEN_TIMEOUT,
                                        ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, logger=wire_log,
                                        proxy=True, max_size=self.max_frame, factory=self._end)
        upstream.stop_reading(HANDSHAKE)  # until the client's handshake is answered and the two are joined
        return upstream  # type: ignore[return-value]

    def _new_session(self, request: Request, beta: str | None) -> RelayedSession:
        parts = urlsplit(request.path)
        model = dict(parse_qsl(parts.query)).get("model")
        api = "translation" if parts.path != _BASE_PATH else "beta" if beta and "realtime=v1" in beta else "ga"
        return RelayedSession(next(self._numbers), model, api)

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
        session._ends.clear()  # its connections' buffers and protocols go with them
        session.done.set()
        if self._on_session is not None:
            self._on_session(session)


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
    def report(session: RelayedSession) -> None:
        print(printable(relay.secrets.text(session.line())), flush=True)

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
