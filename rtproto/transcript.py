"""Recorded Realtime sessions: the ``transcript/1`` format, its writer and its reader.

Format ``transcript/1``
=======================

A transcript is a JSON Lines file (UTF-8, one JSON object per line, ``\\n``
line ends). Line 1 is the header::

    {"rtproto": "transcript/1", "api": "ga", "url": "wss://api.openai.com/v1/realtime?model=gpt-realtime",
     "model": "gpt-realtime", "started_at": "2025-01-31T12:00:00.000Z", ...}

``rtproto`` (the format version) and ``api`` (``"ga"``, ``"beta"`` or
``"translation"``) are required; ``url``, ``model`` and ``started_at`` (ISO-8601,
UTC) are written when known, and any other keys (``scenario``,
``audio_format``, ...) may follow. Every further line is one of:

wire line
    ``{"t": 1234.5, "dir": "client" | "server", "event": {...}}``: a frame as it
    was sent (``client``) or received (``server``), the JSON object unchanged
    apart from redaction (see below).
local line
    ``{"t": 1234.5, "dir": "local", "event": {"type": "...", ...}}``: something
    that happened on our side and that a replay needs to repeat decisions
    exactly, e.g. ``{"type": "playback.cleared", "item_id": ..., "content_index": 0,
    "played_ms": ...}``, ``{"type": "approval.answer", "approval_request_id": ...,
    "approve": true, "reason": ...}`` (with ``"by": "timeout"`` when nobody answered
    in time), ``{"type": "text.input", "text": ...}``.
    ``{"type": "connection.closed", "code": 1011, "reason": "...", "by": "server"}``
    records the end of the connection (``code`` is 1005 or ``null`` for a close
    frame without a status, 1006 when the socket dropped without one; ``by`` is
    ``"server"`` or ``"client"``, the side that closed first).
raw line
    ``{"t": 1234.5, "dir": "client" | "server", "raw": "<text>"}``: a frame that
    was not a JSON object (invalid JSON, invalid UTF-8 shown with backslash
    escapes, or a JSON array/number/string), kept so that nothing is lost. The
    reader returns it as a line whose event is
    ``{"type": "rtproto.raw_frame", "raw": "<text>"}`` (:data:`RAW_FRAME_TYPE`).

``t`` is the time in milliseconds since the writer started (the header was
written), as a float rounded to 0.1 ms. Readers accept transcripts that hold
only a header and wire lines, skip blank lines, and skip a torn last line
(invalid JSON on the final line, as left by a crash), reporting it in
:attr:`Transcript.torn_tail`.

Secrets never reach the file: the writer passes the header, every frame, raw
line and local event through :class:`rtproto.redact.Secrets`, which replaces
with ``"[redacted]"`` the secret values in use (the API key, MCP tokens, URL
credentials: whatever the caller gave it) wherever they occur, and the known
secret patterns (keys named ``authorization``, ``api_key``, ...; ``headers``
values; ``sk-...``, ``ek_...``, GitHub tokens, ``Bearer`` tokens, credential
query values), see :mod:`rtproto.redact`. Ordinary ids (``event_...``,
``item_...``, ``resp_...``, ``sess_...``) are kept.

A frame that is not a JSON object with a string ``type`` is a raw line; a
reader given an older file whose wire line holds such an ``event`` reads it
as a raw frame too (the file is never rejected for what a peer sent).
Lines longer than :data:`MAX_LINE_BYTES` are refused with their line number.

Each line is written with a single ``write`` on an unbuffered file, so a crash
or SIGKILL loses at most the line being written (data already written is in
the OS page cache; the writer does not ``fsync``, so a power loss can lose more).
A write that fails (disk full, file too large, I/O error) stops the recording
cleanly: the file is cut back to its last complete line and closed, and
:attr:`TranscriptWriter.failure` says why.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, NamedTuple

import orjson

from rtproto.errors import TranscriptError
from rtproto.redact import REDACTED, Secrets, needs_redaction, redact, redact_raw_text, redact_text

__all__ = [
    "API_KINDS",
    "CONNECTION_CLOSED",
    "FORMAT",
    "MAX_LINE_BYTES",
    "RAW_FRAME_TYPE",
    "REDACTED",
    "Line",
    "Secrets",
    "Transcript",
    "TranscriptWriter",
    "build_header",
    "iter_transcript",
    "read_transcript",
    "redact",
    "redact_text",
    "unreadable",
]

FORMAT = "transcript/1"
API_KINDS = ("ga", "beta", "translation")
DIRECTIONS = ("client", "server", "local")
RAW_FRAME_TYPE = "rtproto.raw_frame"
CONNECTION_CLOSED = "connection.closed"
#: The longest line a reader accepts (a longer one is a bad line, not an allocation without bound).
MAX_LINE_BYTES = 64 * 1024 * 1024

# ---------------------------------------------------------------------------
# Writer


def _utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_header(
    api: str = "ga",
    url: str | None = None,
    model: str | None = None,
    started_at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return a ``transcript/1`` header (unredacted); ``None`` fields are left out."""
    if api not in API_KINDS:
        raise ValueError(f"api must be one of {', '.join(API_KINDS)}, not {api!r}")
    if "rtproto" in extra:
        raise ValueError("'rtproto' is reserved for the format version")
    header: dict[str, Any] = {"rtproto": FORMAT, "api": api}
    for key, value in (("url", url), ("model", model), ("started_at", started_at)):
        if value is not None:
            header[key] = value
    header.update(extra)
    return header


class TranscriptWriter:
    """Append-only ``transcript/1`` writer; each call writes and flushes one line.

    ``t`` is ``(clock() - clock_at_start) * 1000`` rounded to 0.1 ms, where
    ``clock`` returns seconds (default :func:`time.monotonic`; inject a fake one
    in tests). Not thread-safe: call it from one thread (the event loop).

    Frames passed to :meth:`client` / :meth:`server` may be the raw ``bytes`` /
    ``str`` of a websocket message or a ``dict``. A raw frame is parsed once; if
    it holds nothing to redact and no line break, its original bytes are
    written unchanged (byte-exact recording). A bad frame never raises: it
    becomes a raw line. ``secrets`` (a :class:`~rtproto.redact.Secrets`) are
    the values to keep out of the file, besides the known patterns.

    A write that fails with an :class:`OSError` (disk full, file too large,
    I/O error) never raises: the file is cut back to the end of its last
    complete line and closed, :attr:`failure` is set to a one-line message
    (``recording to PATH stopped: No space left on device``),
    ``on_failure(message)`` is called once, and every later call is a no-op.
    """

    def __init__(
        self,
        stream: BinaryIO,
        header: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        path: str | None = None,
        secrets: Secrets | None = None,
        on_failure: Callable[[str], None] | None = None,
    ):
        self._stream = stream
        self._clock = clock
        self._secrets = secrets if secrets is not None else Secrets()
        self._on_failure = on_failure
        self._end = _position(stream)  # the end of the last complete line
        self.path = path
        self.failure: str | None = None
        self.header = self._secrets.value(dict(header))
        if isinstance(self.header.get("url"), str):
            self.header["url"] = self._secrets.url(self.header["url"])
        self._write(orjson.dumps(self.header, option=orjson.OPT_APPEND_NEWLINE))
        self._start = clock()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        api: str = "ga",
        url: str | None = None,
        model: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        started_at: str | None = None,
        secrets: Secrets | None = None,
        on_failure: Callable[[str], None] | None = None,
        **header_extra: Any,
    ) -> TranscriptWriter:
        """Create (or truncate) ``path`` and write the header line.

        ``started_at`` defaults to the current UTC time; ``header_extra`` adds
        keys to the header (``scenario=...``, ``audio_format=...``). A file that
        cannot be created raises :class:`OSError` (with ``filename``).
        """
        header = build_header(api, url, model, started_at or _utc_now_iso(), **header_extra)
        stream = open(path, "wb", buffering=0)  # noqa: SIM115 - owned by the writer
        try:
            return cls(stream, header, clock=clock, path=os.fspath(path), secrets=secrets, on_failure=on_failure)
        except BaseException:
            stream.close()
            raise

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or a write failed."""
        return self._stream.closed

    def client(self, frame: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> None:
        """Record a frame the client sent."""
        if self.failure is None:
            self._write(self._frame_line(b"client", frame))

    def server(self, frame: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> None:
        """Record a frame the server sent."""
        if self.failure is None:
            self._write(self._frame_line(b"server", frame))

    def local(self, event: Mapping[str, Any]) -> None:
        """Record a local event (a mapping with a string ``type``); raises on a malformed one."""
        if self.failure is not None:
            return
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise ValueError(f"a local event must be a mapping with a string 'type', got {event!r:.80}")
        line = {"t": self._ms(), "dir": "local", "event": self._secrets.value(event)}
        self._write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._stream.close()

    def _ms(self) -> float:
        return round((self._clock() - self._start) * 1000.0, 1)

    def _write(self, data: bytes) -> None:
        if self.failure is not None:
            return
        view = memoryview(data)
        try:
            while view:
                written = self._stream.write(view)
                view = view[written:]
        except OSError as exc:
            self._fail(exc)
            return
        self._end += len(data)

    def _fail(self, exc: OSError) -> None:
        # Cut the torn line off, so that the file stays a valid transcript, then stop.
        self.failure = f"recording to {self.path or '<stream>'} stopped: {exc.strerror or exc}"
        try:
            os.ftruncate(self._stream.fileno(), self._end)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # not a truncatable file: the reader skips a torn last line anyway
        try:
            self._stream.close()
        except OSError:
            pass
        if self._on_failure is not None:
            self._on_failure(self.failure)

    def _frame_line(self, direction: bytes, frame: Any) -> bytes:
        t = self._ms()
        if isinstance(frame, Mapping):
            return _dict_line(t, direction, frame, self._secrets)
        if isinstance(frame, str):
            data = _encode_text(frame)
        elif isinstance(frame, (bytes, bytearray, memoryview)):
            data = bytes(frame)
        else:
            return _raw_line(t, direction, f"<unrecordable frame of type {type(frame).__name__}>", self._secrets)
        return _bytes_line(t, direction, data, self._secrets)


def _position(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except (OSError, io.UnsupportedOperation):
        return 0


def _is_event(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def _encode_text(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: kept visible, recorded as a raw line
        return text.encode("utf-8", "surrogatepass")


def _bytes_line(t: float, direction: bytes, data: bytes, secrets: Secrets) -> bytes:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _raw_line(t, direction, data.decode("utf-8", "backslashreplace"), secrets)
    if not _is_event(event):
        return _raw_line(t, direction, data.decode("utf-8", "backslashreplace"), secrets)
    if _must_rewrite(event, data, secrets):
        return _event_line(t, direction, secrets.value(event), secrets)
    if b"\n" in data or b"\r" in data:  # a line break inside the frame: re-encoded on one line
        return _event_line(t, direction, event, secrets)
    return b'{"t":%r,"dir":"%s","event":%s}\n' % (t, direction, data)


def _must_rewrite(event: dict[str, Any], data: bytes, secrets: Secrets) -> bool:
    # Whether the frame holds anything to redact, walking it at most once. Known values are
    # looked for in the bytes (a few substring scans); only a frame with escapes needs them walked.
    if secrets and secrets.mentioned_in(data):
        return True
    return secrets.needs(event) if secrets and b"\\" in data else needs_redaction(event)


def _dict_line(t: float, direction: bytes, event: Mapping[str, Any], secrets: Secrets) -> bytes:
    try:
        clean = event if isinstance(event, dict) and not secrets.needs(event) else secrets.value(event)
    except (TypeError, ValueError) as exc:
        return _raw_line(t, direction, f"<unrecordable frame: {type(exc).__name__}: {exc}>", secrets)
    return _event_line(t, direction, clean, secrets)


def _event_line(t: float, direction: bytes, clean: Any, secrets: Secrets) -> bytes:
    # ``clean``: already redacted.
    try:
        if not _is_event(clean):
            return _raw_line(t, direction, orjson.dumps(clean).decode(), secrets)
        line = {"t": t, "dir": direction.decode(), "event": clean}
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    except (TypeError, ValueError) as exc:
        return _raw_line(t, direction, f"<unrecordable frame: {type(exc).__name__}: {exc}>", secrets)


def _raw_line(t: float, direction: bytes, text: str, secrets: Secrets) -> bytes:
    line = {"t": t, "dir": direction.decode(), "raw": secrets.raw_text(text)}
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


# ---------------------------------------------------------------------------
# Reader


class Line(NamedTuple):
    """One non-header transcript line. ``lineno`` is 1-based (the header is line 1)."""

    t: float
    dir: str
    event: dict[str, Any]
    lineno: int = 0

    @property
    def type(self) -> str:
        """The event's ``type``."""
        return self.event["type"]


@dataclass
class Transcript:
    """A whole transcript in memory: its header and its lines in file order."""

    header: dict[str, Any]
    lines: list[Line] = field(default_factory=list)
    torn_tail: bool = False
    path: str | None = None

    @property
    def api(self) -> str:
        """``"ga"``, ``"beta"`` or ``"translation"``."""
        return self.header["api"]

    @property
    def duration_ms(self) -> float:
        """The largest ``t`` (0.0 for a transcript without lines)."""
        return max((line.t for line in self.lines), default=0.0)

    def server_events(self) -> list[dict[str, Any]]:
        """The events the server sent, in order."""
        return [line.event for line in self.lines if line.dir == "server"]

    def client_events(self) -> list[dict[str, Any]]:
        """The events the client sent, in order."""
        return [line.event for line in self.lines if line.dir == "client"]

    def local_events(self) -> list[dict[str, Any]]:
        """The local events, in order."""
        return [line.event for line in self.lines if line.dir == "local"]

    @classmethod
    def from_events(
        cls,
        header: Mapping[str, Any] | None,
        lines: Iterable[Line | Mapping[str, Any] | tuple[float, str, Mapping[str, Any]]],
    ) -> Transcript:
        """Build and validate a transcript in code.

        ``header`` gets ``rtproto`` (and ``api="ga"``) filled in when missing.
        Each line is a :class:`Line`, a ``(t, dir, event)`` tuple or a mapping
        shaped like a file line (``{"t":..,"dir":..,"event":..}`` or ``raw``).
        Errors name the position as the line number it would have in a file.
        """
        full_header = {"rtproto": FORMAT, "api": "ga", **(header or {})}
        _check_header(full_header, None)
        parsed = []
        for lineno, item in enumerate(lines, start=2):
            if isinstance(item, tuple):
                item = {"t": item[0], "dir": item[1], "event": item[2]}
            parsed.append(_check_record(item, lineno, None))
        return cls(full_header, parsed)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this transcript to ``path`` in ``transcript/1`` form (redacted)."""
        with open(path, "wb") as stream:
            stream.write(orjson.dumps(redact(self.header), option=orjson.OPT_APPEND_NEWLINE))
            for line in self.lines:
                stream.write(orjson.dumps(_file_record(line), option=orjson.OPT_APPEND_NEWLINE))


def _file_record(line: Line) -> dict[str, Any]:
    if line.event.get("type") == RAW_FRAME_TYPE and set(line.event) == {"type", "raw"}:
        return {"t": line.t, "dir": line.dir, "raw": redact_raw_text(line.event["raw"])}
    return {"t": line.t, "dir": line.dir, "event": redact(line.event)}


def read_transcript(path: str | os.PathLike[str]) -> Transcript:
    """Read and validate a whole transcript; raises :class:`TranscriptError` naming file and line."""
    name = os.fspath(path)
    with open(name, "rb") as stream:
        reader = _Reader(stream, name)
        lines = list(reader.lines())
        return Transcript(reader.header, lines, torn_tail=reader.torn_tail, path=name)


def iter_transcript(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Iterator[Line]]:
    """Read the header now and return it with a lazy iterator over the lines.

    The file stays open until the iterator is exhausted or closed. A torn last
    line is skipped silently (use :func:`read_transcript` to learn about it).
    """
    name = os.fspath(path)
    stream = open(name, "rb")  # noqa: SIM115 - closed by the generator
    try:
        reader = _Reader(stream, name)
    except BaseException:
        stream.close()
        raise

    def generate() -> Iterator[Line]:
        with stream:
            yield from reader.lines()

    return reader.header, generate()


class _Reader:
    # Streams a file's lines; holds one line back so that a JSON error on the
    # final non-blank line can be told apart (torn tail) from one in the middle.

    def __init__(self, stream: BinaryIO, path: str):
        self._numbered = ((n, raw) for n, raw in _numbered_lines(stream, path) if raw.strip())
        self._path = path
        self.torn_tail = False
        first = next(self._numbered, None)
        if first is None:
            raise TranscriptError("empty file, expected a transcript/1 header", line=1, path=path)
        lineno, raw = first
        self.header = _parse_json(raw, lineno, path)
        _check_header(self.header, path, lineno)

    def lines(self) -> Iterator[Line]:
        held = next(self._numbered, None)
        while held is not None:
            following = next(self._numbered, None)
            lineno, raw = held
            try:
                record = _parse_json(raw, lineno, self._path)
            except TranscriptError:
                if following is None:
                    self.torn_tail = True
                    return
                raise
            yield _check_record(record, lineno, self._path)
            held = following


def _numbered_lines(stream: BinaryIO, path: str, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    # Like enumerate(stream), without reading a line of unbounded length into memory.
    lineno = 0
    while raw := stream.readline(limit + 1):
        lineno += 1
        if len(raw) > limit:
            raise TranscriptError(f"line longer than {limit} bytes", line=lineno, path=path)
        yield lineno, raw


def _parse_json(raw: bytes, lineno: int, path: str | None) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TranscriptError(f"invalid JSON: {exc}", line=lineno, path=path) from None


def _check_header(header: Any, path: str | None, lineno: int = 1) -> None:
    def fail(message: str) -> TranscriptError:
        return TranscriptError(message, line=lineno, path=path)

    if not isinstance(header, dict) or "rtproto" not in header:
        raise fail('first line is not a transcript header (expected an object with "rtproto": "transcript/1")')
    version = header["rtproto"]
    if version != FORMAT:
        raise fail(f"unsupported transcript version {version!r} (this reader knows {FORMAT!r})")
    if header.get("api") not in API_KINDS:
        raise fail(f"header 'api' must be one of {', '.join(API_KINDS)}, got {header.get('api')!r}")


def _check_record(record: Any, lineno: int, path: str | None) -> Line:
    def fail(message: str) -> TranscriptError:
        return TranscriptError(message, line=lineno, path=path)

    if isinstance(record, Line):
        record = record._asdict()
    if not isinstance(record, Mapping):
        raise fail(f"a line must be a JSON object, got {type(record).__name__}")
    t = record.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise fail(f"'t' must be a number of milliseconds, got {t!r}")
    direction = record.get("dir")
    if direction not in DIRECTIONS:
        raise fail(f"'dir' must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return Line(float(t), direction, _record_event(record, direction, fail), lineno)


def _record_event(record: Mapping[str, Any], direction: str, fail: Callable[[str], TranscriptError]) -> dict:
    if "raw" in record and "event" not in record:
        if direction == "local":
            raise fail("a 'raw' line must have dir 'client' or 'server', not 'local'")
        if not isinstance(record["raw"], str):
            raise fail(f"'raw' must be a string, got {type(record['raw']).__name__}")
        return {"type": RAW_FRAME_TYPE, "raw": record["raw"]}
    if "event" not in record:
        raise fail("missing 'event' (or 'raw')")
    event = record["event"]
    if _is_event(event):
        return event
    if direction != "local":  # what a peer sent, recorded by an older writer: a raw frame
        return {"type": RAW_FRAME_TYPE, "raw": orjson.dumps(event).decode()}
    if not isinstance(event, dict):
        raise fail(f"'event' must be a JSON object, got {type(event).__name__}")
    raise fail(f"'event' has no string 'type' (got {event.get('type')!r})")


def unreadable(exc: TranscriptError | OSError, path: str | os.PathLike[str]) -> str:
    """The one line a command prints for a transcript it could not read (it then exits 2)."""
    if isinstance(exc, TranscriptError):
        return str(exc)
    return f"cannot read {exc.filename or path}: {exc.strerror or exc}"
