"""A pytest plugin: recorded Realtime sessions as cassettes (as VCR.py does for HTTP).

Theory of operation
-------------------

A test asks for the ``realtime_server`` fixture. The plugin finds the test's
transcript (:func:`transcript_path`): the path a ``realtime_transcript`` marker
names, relative to the test file's directory (or to ``--realtime-transcripts``
/ the ``realtime_transcript_dir`` ini option), or by default
``<test dir>/transcripts/<module>/<test name>.jsonl``.

:func:`choose_action` (pure) then decides from the record mode, the file's
presence and ``OPENAI_API_KEY`` what happens, as pytest-recording's
``--record-mode`` does:

============  =================  ===================  ===================
mode          file present       file missing, key    file missing, no key
============  =================  ===================  ===================
``none``      serve              missing (fail)       missing (fail)
``once``      serve              record               no-key (fail)
``all``       record (with key)  record               no-key (fail)
============  =================  ===================  ===================

*Serve* runs rtproto's :class:`~rtproto.server.RealtimeServer` on 127.0.0.1
(a free port, ``speed="max"`` unless the marker says otherwise) in a thread
with its own event loop, so sync and async tests, rtproto's transport and the
official SDK's sync and async clients all work against it. *Record* goes
through :func:`_record_live`: rtproto's recording relay (:mod:`rtproto.relay`,
imported only then) on 127.0.0.1 forwards the test's one connection to the
live API (or ``--realtime-upstream URL``) with ``OPENAI_API_KEY``, and its
recording becomes the transcript when the test ends.

After the test function returns, the plugin waits for connections the client
has closed to drain, and in strict mode (``--realtime-strict`` or the marker's
``strict=True``) fails the test with the list of departures: client frames
that differ from the recording (the server also closes the connection with
1008 at the first one). Departures are shown with every failing test's report.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from rtproto.errors import TranscriptError
from rtproto.server import Departure, RealtimeServer, ServedSession
from rtproto.transcript import read_transcript, unreadable

__all__ = [
    "MARKER",
    "RECORD_MODES",
    "RealtimeCassette",
    "RecordingUnavailable",
    "choose_action",
    "missing_message",
    "realtime_server",
    "transcript_path",
]

#: The marker naming a test's transcript: ``@pytest.mark.realtime_transcript("path.jsonl", strict=True)``.
MARKER = "realtime_transcript"
#: ``--realtime-record-mode`` values, as pytest-recording's ``--record-mode``.
RECORD_MODES = ("none", "once", "all")
API_KEY_ENV = "OPENAI_API_KEY"
SETTLE_SECONDS = 10.0  # an upper bound on waiting for a closed connection to drain, never an assertion
_START_SECONDS = 30.0
_APPEND = "input_audio_buffer.append"
_CASSETTE = pytest.StashKey["RealtimeCassette"]()
_T = TypeVar("_T")

# ---------------------------------------------------------------------------
# Pure decisions


def choose_action(mode: str, *, exists: bool, has_key: bool) -> str:
    """What the fixture does: ``"serve"``, ``"record"``, ``"missing"`` or ``"no-key"``.

    ``missing``: mode ``none`` and no transcript. ``no-key``: the mode asks for
    a recording (``once`` without a transcript, or ``all``) and there is no API key.
    """
    match mode:
        case "none":
            return "serve" if exists else "missing"
        case "once" if exists:
            return "serve"
        case "once" | "all":
            return "record" if has_key else "no-key"
    raise ValueError(f"record mode must be one of {', '.join(RECORD_MODES)}, got {mode!r}")


def transcript_path(
    marked: str | os.PathLike[str] | None,
    *,
    test_dir: Path,
    module: str,
    test_name: str,
    transcript_dir: Path | None = None,
) -> Path:
    """The transcript a test plays.

    ``marked`` (the marker's argument) is taken relative to ``transcript_dir``
    when one is configured, else to ``test_dir``; an absolute path stays as is.
    Without it: ``<transcript_dir>/<module>/<test_name>.jsonl``, or
    ``<test_dir>/transcripts/<module>/<test_name>.jsonl``.
    """
    base = transcript_dir if transcript_dir is not None else test_dir
    if marked is not None:
        return base / Path(marked)
    folder = base if transcript_dir is not None else base / "transcripts"
    return folder / module / f"{_file_safe(test_name)}.jsonl"


def _file_safe(name: str) -> str:
    # Parametrized ids can hold path separators and characters Windows refuses.
    return re.sub(r'[\\/:*?"<>|\s]', "_", name)


def missing_message(path: Path, mode: str) -> str:
    """The failure text for a transcript that mode ``none`` cannot play."""
    return (
        f"realtime transcript not found: {path}\n"
        f"record mode {mode!r} only plays existing transcripts. Record this one against the live API with "
        f"{API_KEY_ENV} set and --realtime-record-mode=once (or commit the file)."
    )


def _no_key_message(path: Path, mode: str) -> str:
    return f"record mode {mode!r} would record {path} from the live API, but {API_KEY_ENV} is not set."


# ---------------------------------------------------------------------------
# pytest hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--realtime-record-mode``, ``--realtime-transcripts``, ``--realtime-strict``."""
    group = parser.getgroup("rtproto", "Realtime transcripts (rtproto)")
    group.addoption(
        "--realtime-record-mode",
        choices=RECORD_MODES,
        default="none",
        help="none: only play transcripts (default); once: record missing ones; all: record every one again",
    )
    group.addoption(
        "--realtime-transcripts",
        metavar="DIR",
        default=None,
        help="the folder transcripts are found in (overrides the realtime_transcript_dir ini option)",
    )
    group.addoption(
        "--realtime-strict",
        action="store_true",
        default=False,
        help="fail a test whose client frames depart from its transcript",
    )
    group.addoption(
        "--realtime-upstream",
        metavar="URL",
        default=None,
        help="where recording connects (default: the live API, wss://api.openai.com/v1/realtime)",
    )
    parser.addini("realtime_transcript_dir", "the folder transcripts are found in (relative to the ini file)")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``realtime_transcript`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path=None, *, strict=None, speed='max'): the transcript the realtime_server fixture plays",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After the test: show departures with a failure, and fail a strict test that departed."""
    try:
        result = yield
    except BaseException:
        _report_departures(item)
        raise
    cassette, departures = _report_departures(item)  # a lenient test that passed shows them with -rP
    if cassette is not None and cassette.strict and departures:
        pytest.fail(_departures_text(cassette.path, departures), pytrace=False)
    return result


def _report_departures(item: pytest.Item) -> tuple[Any, list[Departure]]:
    # The departures are read once (each read is a snapshot of the server's thread).
    cassette = item.stash.get(_CASSETTE, None)
    departures = cassette.departures if cassette is not None else []
    if departures:
        item.add_report_section("call", "realtime departures", _departures_text(cassette.path, departures))
    return cassette, departures


def _departures_text(path: Path, departures: list[Departure]) -> str:
    lines = [f"client frames departed from the realtime transcript {path}:"]
    lines += [f"  {departure}" for departure in departures]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The fixture


@pytest.fixture
def realtime_server(request: pytest.FixtureRequest) -> Iterator[RealtimeCassette]:
    """A local Realtime server playing the test's transcript (or a relay recording it).

    Point a client at ``.url`` (rtproto's transport) or ``.base_url`` (the
    official SDK's ``websocket_base_url``); see :class:`RealtimeCassette`.
    """
    config = request.config
    marker = request.node.get_closest_marker(MARKER)
    args, kwargs = (marker.args, marker.kwargs) if marker else ((), {})
    path = transcript_path(
        args[0] if args else None,
        test_dir=Path(request.node.path).parent,
        module=Path(request.node.path).stem,
        test_name=_test_name(request.node),
        transcript_dir=_transcript_dir(config),
    )
    mode = config.getoption("--realtime-record-mode")
    strict = kwargs.get("strict")
    strict = config.getoption("--realtime-strict") if strict is None else bool(strict)
    key = os.environ.get(API_KEY_ENV) or None
    action = choose_action(mode, exists=path.is_file(), has_key=key is not None)
    if action == "missing":
        pytest.fail(missing_message(path, mode), pytrace=False)
    if action == "no-key":
        pytest.fail(_no_key_message(path, mode), pytrace=False)
    cassette = RealtimeCassette(path, action, strict=strict)
    cassette.upstream = config.getoption("--realtime-upstream")
    try:
        cassette._open(speed=kwargs.get("speed", "max"), api_key=key)
        request.node.stash[_CASSETTE] = cassette
        yield cassette
    finally:
        cassette._close()


def _test_name(item: pytest.Item) -> str:
    # "TestApp::test_ask[x]" (from the node id) becomes "TestApp.test_ask[x]".
    return ".".join(item.nodeid.split("::")[1:]) or item.name


def _transcript_dir(config: pytest.Config) -> Path | None:
    option = config.getoption("--realtime-transcripts")
    if option:
        return Path(config.invocation_params.dir, option)
    ini = config.getini("realtime_transcript_dir")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / ini
    return None


@dataclass(frozen=True)
class _Snapshot:
    # What the server had seen, copied inside its own event loop.
    received: list[dict[str, Any]]
    departures: list[Departure]
    sessions: list[ServedSession]


class RealtimeCassette:
    """What the ``realtime_server`` fixture yields: a served (or recorded) transcript.

    ``url`` is ``ws://127.0.0.1:PORT/v1/realtime`` (for rtproto's transport),
    ``base_url`` is ``ws://127.0.0.1:PORT/v1`` (the official SDK's
    ``websocket_base_url``). ``action`` is ``"serve"`` or ``"record"``.

    ``received``, ``departures``, ``sessions`` and the ``assert_*`` helpers
    first wait (up to :data:`SETTLE_SECONDS`) for every connection the client
    has closed to finish draining, so what a client sent before closing is
    always there. Frames on a connection still open are seen as far as the
    server has read them.
    """

    def __init__(self, path: Path, action: str, *, strict: bool = False):
        self.path = path
        self.action = action
        self.strict = strict
        self.upstream: str | None = None
        self._loop: _LoopThread | None = None
        self._server: Any = None
        self._stack = contextlib.AsyncExitStack()

    # -- addresses -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The websocket URL, ``ws://127.0.0.1:PORT/v1/realtime``."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """The URL the official SDK takes as ``websocket_base_url`` (``ws://127.0.0.1:PORT/v1``)."""
        return self.url.split("/v1/realtime", 1)[0] + "/v1"

    # -- what the client did -------------------------------------------------

    @property
    def received(self) -> list[dict[str, Any]]:
        """Client events of all connections, in order (appends included)."""
        return self._snapshot().received

    @property
    def departures(self) -> list[Departure]:
        """Client frames that departed from the recording, all connections, in order."""
        return self._snapshot().departures

    @property
    def sessions(self) -> list[ServedSession]:
        """One :class:`~rtproto.server.ServedSession` per connection (empty while recording)."""
        return self._snapshot().sessions

    def sent_types(self, *, appends: bool = False) -> list[str]:
        """The ``type`` of each client event, in order (``input_audio_buffer.append`` left out unless asked)."""
        return [e.get("type") for e in self.received if appends or e.get("type") != _APPEND]

    def assert_sent(self, type: str, count: int | None = None) -> None:
        """Assert the client sent events of ``type``: at least one, or exactly ``count``."""
        __tracebackhide__ = True
        sent = self.sent_types(appends=True)
        found = sent.count(type)
        if (found == 0 and count is None) or (count is not None and found != count):
            wanted = "at least one" if count is None else f"{count}"
            raise AssertionError(f"expected {wanted} {type!r} from the client, got {found}; it sent {_summary(sent)}")

    def assert_no_departures(self) -> None:
        """Assert every client frame matched the recording."""
        __tracebackhide__ = True
        departures = self.departures
        if departures:
            raise AssertionError(_departures_text(self.path, departures))

    # -- lifecycle (the fixture's) -------------------------------------------

    def _open(self, *, speed: Any, api_key: str | None) -> None:
        self._loop = _LoopThread()
        try:
            self._server = self._loop.run(self._start(speed, api_key), _START_SECONDS)
        except (TranscriptError, OSError) as exc:
            pytest.fail(f"cannot play realtime transcript: {unreadable(exc, self.path)}", pytrace=False)
        except RecordingUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)

    async def _start(self, speed: Any, api_key: str | None) -> Any:
        if self.action == "record":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            recorder = _record_live(self.path, api_key=api_key, upstream=self.upstream)
            return await self._stack.enter_async_context(recorder)
        server = _CassetteServer(self.path, speed=speed, strict=self.strict)
        return await self._stack.enter_async_context(server)

    def _close(self) -> None:
        if self._loop is None:
            return
        try:
            self._loop.run(self._stack.aclose(), _START_SECONDS)
        except RecordingUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
        finally:
            self._loop.stop()

    def _snapshot(self) -> _Snapshot:
        assert self._loop is not None, "the cassette is not open"
        return self._loop.run(self._settled(), SETTLE_SECONDS + 5)

    async def _settled(self) -> _Snapshot:
        server = self._server
        if isinstance(server, _CassetteServer):
            await server.drain_closed(SETTLE_SECONDS)
        return _Snapshot(
            list(getattr(server, "received", ())),
            list(getattr(server, "departures", ())),
            list(getattr(server, "sessions", ())),
        )


def _summary(types: list[str]) -> str:
    # Runs of one type collapse to one entry ("input_audio_buffer.append x50"), so a minute of audio stays short.
    runs = [(kind, len(list(group))) for kind, group in itertools.groupby(types)]
    return "[" + ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in runs) + "]" if runs else "nothing"


class _CassetteServer(RealtimeServer):
    """A :class:`RealtimeServer` that knows each session's socket, to tell closed connections from open ones."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sockets: list[tuple[ServedSession, ServerConnection]] = []

    async def _opened(self, ws: ServerConnection, session: ServedSession) -> None:
        self._sockets.append((session, ws))

    async def drain_closed(self, timeout: float) -> None:
        """Wait until every connection whose close has begun has finished reading its frames."""
        closing = [s.wait_done() for s, ws in self._sockets if not s.done and ws.state is not State.OPEN]
        if not closing:
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*closing)
        except TimeoutError:
            raise AssertionError(f"a closed realtime connection was still draining after {timeout} s") from None


# ---------------------------------------------------------------------------
# Recording


class RecordingUnavailable(Exception):
    """Recording was asked for and cannot happen (no API key, or no ``rtproto.relay``)."""


def _record_live(path: Path, *, api_key: str | None, upstream: str | None = None) -> contextlib.AbstractAsyncContextManager[Any]:
    """Record a live session into ``path`` through :class:`rtproto.relay.Relay` (imported only here).

    The context manager yields a :class:`_Recording` (``.url``, ``.received``);
    when it ends, the relay's one recording becomes ``path``. ``upstream`` is
    the relay's upstream URL (the live API by default).
    """
    if not api_key:
        raise RecordingUnavailable(f"recording {path} needs {API_KEY_ENV}; it is not set")
    try:
        relay = importlib.import_module("rtproto.relay")
    except ModuleNotFoundError as exc:
        if exc.name != "rtproto.relay":
            raise
        raise RecordingUnavailable(
            f"recording {path} needs rtproto.relay, which this install of rtproto does not have; "
            "play committed transcripts with --realtime-record-mode=none"
        ) from None
    return _recording(relay, path, api_key, upstream or relay.DEFAULT_UPSTREAM)


@contextlib.asynccontextmanager
async def _recording(relay: Any, path: Path, api_key: str, upstream: str) -> AsyncIterator[_Recording]:
    # The relay writes one file per connection into a scratch folder next to
    # ``path``; a test that made exactly one connection gets it as ``path``.
    scratch = path.parent / f".{path.name}.recording"
    shutil.rmtree(scratch, ignore_errors=True)
    async with relay.Relay(api_key=api_key, upstream=upstream, record_dir=str(scratch)) as running:
        yield _Recording(running)
    files = sorted(scratch.glob("*.jsonl"))
    if len(files) != 1:
        raise RecordingUnavailable(
            f"recording {path}: the test made {len(files)} connections; one transcript holds one "
            f"(recordings kept in {scratch})"
        )
    files[0].replace(path)
    shutil.rmtree(scratch, ignore_errors=True)


class _Recording:
    # The relay as the cassette sees it: its URL, and the client events its recordings hold so far.

    def __init__(self, relay: Any):
        self.relay = relay
        self.url: str = relay.url

    @property
    def received(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for session in self.relay.sessions:
            if session.recording:
                events += read_transcript(session.recording).client_events()
        return events


# ---------------------------------------------------------------------------
# The server's own event loop


class _LoopThread:
    # The server runs on its own loop in a daemon thread, so it keeps serving
    # while a sync test blocks and whichever loop an async test uses.

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="rtproto-realtime-server", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
