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

Secrets never reach the file: the writer passes the header, every frame and
every local event through :func:`redact`, which replaces with ``"[redacted]"``
the value of any key named ``authorization`` (any case, any depth, and a few
alike: ``api_key``, ``client_secret``, ``password``, ...), every value of a
``headers`` object (the header names stay), and, inside any string, OpenAI API
keys (``sk-...``), Realtime ephemeral keys (``ek_...``), GitHub tokens
(``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``), the token
of ``Bearer <token>`` and URL query values named like credentials
(``?key=``, ``&token=``, ``api_key``, ``access_token``, ``secret``, ...).
Ordinary ids (``event_...``, ``item_...``, ``resp_...``, ``call_...``,
``mcp_...``, ``sess_...``: Realtime session ids are not secrets) are kept.

Each line is written with a single ``write`` on an unbuffered file, so a crash
or SIGKILL loses at most the line being written (data already written is in
the OS page cache; the writer does not ``fsync``, so a power loss can lose more).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, NamedTuple

import orjson

from rtproto.errors import TranscriptError

__all__ = [
    "API_KINDS",
    "CONNECTION_CLOSED",
    "FORMAT",
    "RAW_FRAME_TYPE",
    "REDACTED",
    "Line",
    "Transcript",
    "TranscriptWriter",
    "build_header",
    "iter_transcript",
    "read_transcript",
    "redact",
    "redact_text",
]

FORMAT = "transcript/1"
API_KINDS = ("ga", "beta", "translation")
DIRECTIONS = ("client", "server", "local")
RAW_FRAME_TYPE = "rtproto.raw_frame"
CONNECTION_CLOSED = "connection.closed"
REDACTED = "[redacted]"

# ---------------------------------------------------------------------------
# Redaction

# Keys compared after lower-casing and mapping "-" to "_".
_SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "api_key",
        "apikey",
        "client_secret",
        "password",
        "access_token",
        "refresh_token",
    }
)
_HEADERS_KEY = "headers"

# Distinctive shapes match anywhere, even glued to other text; the short generic
# shapes only after a non-alphanumeric, so that "risk-assessment-matrix" stays.
_TOKEN_PATTERN = "|".join(
    (
        r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}",  # OpenAI project/service/admin keys
        r"sk-[A-Za-z0-9]{32,}[A-Za-z0-9_-]*",  # OpenAI legacy user keys
        r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}",  # other sk- keys
        r"ek_[A-Za-z0-9]{24,}",  # Realtime ephemeral client secrets
        r"(?<![A-Za-z0-9])ek_[A-Za-z0-9_-]{16,}",
        r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub classic tokens
        r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}",
        r"github_pat_[A-Za-z0-9_]{22,}",  # GitHub fine-grained tokens
    )
)
_BEARER_PATTERN = r"(?i:\b(bearer[ \t\r\n]+))[^\s\"',;]+"
_QUERY_PATTERN = (
    r"(?i:([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|authorization|secret"
    r"|client[_-]?secret|password|sig|signature)=))[^&#\s\"']+"
)
_TOKEN_RE = re.compile(_TOKEN_PATTERN)
_BEARER_RE = re.compile(_BEARER_PATTERN)
_QUERY_RE = re.compile(_QUERY_PATTERN)
_ANY_RE = re.compile(f"{_BEARER_PATTERN}|{_QUERY_PATTERN}|{_TOKEN_PATTERN}")
# For non-JSON text only: `authorization: value`, `"api_key": "value"`, ...
_KEY_VALUE_RE = re.compile(
    r"(?i)((?:authorization|api[_-]?key|client[_-]?secret|password|access[_-]?token)"
    r"[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',}]+"
)


def _may_hold_token(text: str) -> bool:
    # A cheap superset test of the patterns above, so that most strings (ids,
    # event types, base64 audio) skip the regexes: single-character scans first.
    if ("-" in text or "_" in text) and ("sk-" in text or "ek_" in text or "gh" in text or "github_pat_" in text):
        return True
    if " " in text or "\t" in text or "\n" in text or "\r" in text:
        return True  # may hold "Bearer <token>"
    return "=" in text and ("?" in text or "&" in text or ";" in text)


def redact_text(text: str) -> str:
    """Return ``text`` with every secret-looking token replaced in place by ``[redacted]``."""
    if not _may_hold_token(text) or _ANY_RE.search(text) is None:
        return text
    text = _BEARER_RE.sub(r"\1" + REDACTED, text)
    text = _QUERY_RE.sub(r"\1" + REDACTED, text)
    return _TOKEN_RE.sub(REDACTED, text)


_PLAIN, _SECRET, _HEADERS = 0, 1, 2
_key_kinds: dict[str, int] = {}


def _key_kind(key: str) -> int:
    # Memoised: frames reuse a small set of keys, and this runs for every key.
    kind = _key_kinds.get(key)
    if kind is None:
        folded = key.lower().replace("-", "_")
        kind = _SECRET if folded in _SECRET_KEYS else _HEADERS if folded == _HEADERS_KEY else _PLAIN
        if len(_key_kinds) < 4096:
            _key_kinds[key] = kind
    return kind


def _redact_headers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: REDACTED for name in value}
    return value if value is None else REDACTED


def redact(obj: Any) -> Any:
    """Return a copy of a JSON-like value with its secrets replaced by ``"[redacted]"``.

    Rules (see the module docstring): values under secret keys such as
    ``authorization`` are replaced whole; a ``headers`` object keeps its names
    and loses its values; strings have secret-looking tokens replaced in place.
    ``obj`` itself is never modified.
    """
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, Mapping):
        return {key: _redact_member(key, value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(value) for value in obj]
    return obj


def _redact_member(key: Any, value: Any) -> Any:
    kind = _key_kind(key) if isinstance(key, str) else _PLAIN
    if kind == _SECRET:
        return value if value is None else REDACTED
    if kind == _HEADERS:
        return _redact_headers(value)
    return redact(value)


def _needs_redaction(obj: Any) -> bool:
    # The read-only twin of `redact`: lets a clean frame be written as received.
    if isinstance(obj, str):
        return _may_hold_token(obj) and _ANY_RE.search(obj) is not None
    if isinstance(obj, dict):
        for key, value in obj.items():
            kind = _key_kind(key) if isinstance(key, str) else _PLAIN
            if kind == _SECRET and value is not None:
                return True
            if kind == _HEADERS and _redact_headers(value) != value:
                return True
            if _needs_redaction(value):
                return True
        return False
    if isinstance(obj, list):
        return any(_needs_redaction(value) for value in obj)
    return False


def _redact_raw_text(text: str) -> str:
    return redact_text(_KEY_VALUE_RE.sub(r"\1" + REDACTED, text))


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
    becomes a raw line. Only I/O errors (disk full, closed writer) raise.
    """

    def __init__(
        self,
        stream: BinaryIO,
        header: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        path: str | None = None,
    ):
        self._stream = stream
        self._clock = clock
        self.path = path
        self.header = redact(dict(header))
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
        **header_extra: Any,
    ) -> TranscriptWriter:
        """Create (or truncate) ``path`` and write the header line.

        ``started_at`` defaults to the current UTC time; ``header_extra`` adds
        keys to the header (``scenario=...``, ``audio_format=...``).
        """
        header = build_header(api, url, model, started_at or _utc_now_iso(), **header_extra)
        stream = open(path, "wb", buffering=0)  # noqa: SIM115 - owned by the writer
        try:
            return cls(stream, header, clock=clock, path=os.fspath(path))
        except BaseException:
            stream.close()
            raise

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._stream.closed

    def client(self, frame: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> None:
        """Record a frame the client sent."""
        self._write(self._frame_line(b"client", frame))

    def server(self, frame: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> None:
        """Record a frame the server sent."""
        self._write(self._frame_line(b"server", frame))

    def local(self, event: Mapping[str, Any]) -> None:
        """Record a local event (a mapping with a string ``type``); raises on a malformed one."""
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise ValueError(f"a local event must be a mapping with a string 'type', got {event!r:.80}")
        line = {"t": self._ms(), "dir": "local", "event": redact(event)}
        self._write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._stream.close()

    def _ms(self) -> float:
        return round((self._clock() - self._start) * 1000.0, 1)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._stream.write(view)
            view = view[written:]

    def _frame_line(self, direction: bytes, frame: Any) -> bytes:
        t = self._ms()
        if isinstance(frame, Mapping):
            return _dict_line(t, direction, frame)
        if isinstance(frame, str):
            data = _encode_text(frame)
        elif isinstance(frame, (bytes, bytearray, memoryview)):
            data = bytes(frame)
        else:
            return _raw_line(t, direction, f"<unrecordable frame of type {type(frame).__name__}>")
        return _bytes_line(t, direction, data)


def _encode_text(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates: kept visible, recorded as a raw line
        return text.encode("utf-8", "surrogatepass")


def _bytes_line(t: float, direction: bytes, data: bytes) -> bytes:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _raw_line(t, direction, data.decode("utf-8", "backslashreplace"))
    if not isinstance(event, dict):
        return _raw_line(t, direction, data.decode("utf-8", "backslashreplace"))
    if _needs_redaction(event) or b"\n" in data or b"\r" in data:
        return _dict_line(t, direction, event)
    return b'{"t":%r,"dir":"%s","event":%s}\n' % (t, direction, data)


def _dict_line(t: float, direction: bytes, event: Mapping[str, Any]) -> bytes:
    try:
        clean = event if isinstance(event, dict) and not _needs_redaction(event) else redact(event)
        line = {"t": t, "dir": direction.decode(), "event": clean}
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    except (TypeError, ValueError) as exc:
        return _raw_line(t, direction, f"<unrecordable frame: {type(exc).__name__}: {exc}>")


def _raw_line(t: float, direction: bytes, text: str) -> bytes:
    line = {"t": t, "dir": direction.decode(), "raw": _redact_raw_text(text)}
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
        return {"t": line.t, "dir": line.dir, "raw": _redact_raw_text(line.event["raw"])}
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
        self._numbered = ((n, raw) for n, raw in enumerate(stream, start=1) if raw.strip())
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
    if not isinstance(event, dict):
        raise fail(f"'event' must be a JSON object, got {type(event).__name__}")
    if not isinstance(event.get("type"), str):
        raise fail(f"'event' has no string 'type' (got {event.get('type')!r})")
    return event
