"""The I/O plumbing of :mod:`rtproto.mcp_local`, each piece bounding what a local server can make us hold.

A server is a program we start (or a URL we are given) and do not trust to be small
or quiet, so every channel it has to us is bounded here, apart from the MCP logic:

* :class:`_ServerLog`: the servers' stderr and the MCP SDK's log records go to one
  private, redacted file (or nowhere), never to the terminal; a stderr line is
  written out at :data:`_STDERR_LINE_LIMIT` bytes, and the SDK's DEBUG records
  (whole tool arguments and results) are never written.
* :class:`_BoundedLines`: a stdio server's stdout is decoded by a registered codec
  that cuts a line at the limit, because the SDK's reader would hold a line whole
  however long it grows.
* :func:`_http_client`: a streamable HTTP server's JSON response fails its request
  past the limit (the SDK reads it whole), and a compressed one, which could unpack
  past any bound, is refused.

The limits themselves are :mod:`rtproto.mcp_local`'s and come in as arguments.
``httpx2`` and ``mcp`` are imported only inside the functions that need them.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx2

# The SDK's session logs as "client"; httpx2 logs every request's URL at INFO, and only the MCP client uses it.
_SDK_LOGGERS = ("mcp", "mcp_types", "client", "httpx2", "httpcore2")
_STDERR_LINE_LIMIT = 64 * 1024  # bytes of one stderr line kept before it is written out anyway
_LINES_CODEC = "rtproto_mcp_lines_"  # + the line limit: the stdio "encoding" that cuts long lines
_CUT = "\x00[rtproto: line cut]"  # ends a cut stdout line: no JSON ends so, and rtproto.mcp_local._was_cut knows it


# -- the log file ---------------------------------------------------------------------


class _RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log record, traceback included, is redacted as a whole before it is written."""

    def __init__(self, stream: IO[str], redact: Callable[[str], str]):
        super().__init__(stream)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class _ServerLog:
    """``log_path``, shared by every server: stderr lines prefixed ``[label]``, and the SDK's log records.

    Every line is redacted. The file is created private (0600). The SDK's loggers stay at
    INFO or above while they are ours: its DEBUG records carry whole tool arguments and
    results. Without a path, stderr goes to the null device and the SDK's records nowhere.
    """

    def __init__(self, path: str | None, redact: Callable[[str], str]):
        self.path = path
        self._redact = redact
        self._file: IO[str] | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._handler: logging.Handler = logging.NullHandler()
        self._loggers: list[tuple[logging.Logger, bool, int]] = []

    def open(self) -> None:
        if self.path is not None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = open(fd, "a", encoding="utf-8", errors="replace")
            self._handler = _RedactingHandler(self._file, self._redact)
            self._handler.setFormatter(logging.Formatter("[mcp sdk] %(levelname)s %(name)s: %(message)s"))
        self._handler.setLevel(logging.INFO)  # also for a child logger someone set to DEBUG
        for name in _SDK_LOGGERS:
            logger = logging.getLogger(name)
            self._loggers.append((logger, logger.propagate, logger.level))
            logger.setLevel(max(logging.INFO, logger.getEffectiveLevel()))
            logger.addHandler(self._handler)
            logger.propagate = False

    @contextlib.contextmanager
    def stream(self, label: str) -> Iterator[IO[str]]:
        """A file for a child's stderr; ours is closed on leaving (the child keeps its copy)."""
        if self._file is None:
            with open(os.devnull, "w") as null:
                yield null
            return
        read_fd, write_fd = os.pipe()
        self._pumps.append(asyncio.create_task(self._pump(label, read_fd)))
        with open(write_fd, "w") as writer:
            yield writer

    async def _pump(self, label: str, read_fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    open(read_fd, "rb", buffering=0))
        try:
            pending = b""
            while chunk := await reader.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) > _STDERR_LINE_LIMIT:
                    lines, pending = [*lines, pending], b""
                self._write(label, lines)
            self._write(label, [pending] if pending else [])
        finally:
            transport.close()

    def _write(self, label: str, lines: list[bytes]) -> None:
        if self._file is not None and lines:
            self._file.writelines(f"[{label}] {self._redact(line.decode('utf-8', 'replace').rstrip(chr(13)))}\n"
                                  for line in lines)
            self._file.flush()

    async def close(self) -> None:
        """Wait a moment for the last stderr lines, then close the file and give the SDK's loggers back."""
        if self._pumps:
            _, late = await asyncio.wait(self._pumps, timeout=1.0)
            for pump in late:  # a grandchild may hold the pipe open
                pump.cancel()
        for logger, propagate, level in self._loggers:
            logger.removeHandler(self._handler)
            logger.propagate = propagate
            logger.setLevel(level)
        if self._file is not None:
            self._file.close()


# -- cutting long stdout lines --------------------------------------------------------


class _BoundedLines(codecs.IncrementalDecoder):
    """UTF-8 (a bad byte becomes U+FFFD) whose lines are cut at ``limit`` characters.

    The SDK's stdio reader keeps a line until its newline comes and decodes with the
    ``encoding`` it is given, so this decoder, registered as a codec, is where a line
    can be bounded: a cut line ends with :data:`_CUT` (no JSON-RPC message ends so, and
    :func:`rtproto.mcp_local._was_cut` knows the parse error) and the rest of it is dropped. Undecodable
    bytes are replaced rather than refused, because the SDK's reader, on a decoding
    error, ends without ending the session.
    """

    def __init__(self, errors: str = "strict", *, limit: int):
        super().__init__(errors)
        self.limit = limit
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._length = 0  # characters of the current line so far
        self._dropping = False  # the current line was cut: its rest is dropped

    def decode(self, data: bytes, final: bool = False) -> str:
        out: list[str] = []
        for index, piece in enumerate(self._utf8.decode(data, final).split("\n")):
            if index:  # a newline came before this piece
                if not self._dropping:
                    out.append("\n")
                self._length, self._dropping = 0, False
            if self._dropping:
                continue
            room = self.limit - self._length
            if len(piece) > room:
                out.append(piece[:room] + _CUT + "\n")
                self._dropping = True
            else:
                out.append(piece)
                self._length += len(piece)
        return "".join(out)

    def reset(self) -> None:
        self._utf8.reset()
        self._length, self._dropping = 0, False


def _lines_codec(limit: int) -> str:
    """The name of the codec that decodes a stdio server's stdout with :class:`_BoundedLines`."""
    _register_lines_codec()
    return f"{_LINES_CODEC}{limit}"


@functools.cache
def _register_lines_codec() -> None:
    def search(name: str) -> codecs.CodecInfo | None:
        limit = name.removeprefix(_LINES_CODEC)
        if limit == name or not limit.isdigit():
            return None
        return codecs.CodecInfo(codecs.utf_8_encode, codecs.utf_8_decode, name=name,
                                incrementaldecoder=functools.partial(_BoundedLines, limit=int(limit)))

    codecs.register(search)


# -- the HTTP client ---------------------------------------------------------------


def _http_client(limit: int) -> httpx2.AsyncClient:
    """An HTTP client for a local server: the MCP transports' timeouts, never a proxy, and bounded
    responses (:func:`_bound_response`)."""
    import httpx2
    from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

    async def bound(response: httpx2.Response) -> None:
        _bound_response(response, limit)

    return httpx2.AsyncClient(timeout=httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
                              trust_env=False, headers={"Accept-Encoding": "identity"},
                              event_hooks={"response": [bound]})


def _bound_response(response: httpx2.Response, limit: int) -> None:
    """Make reading ``response`` fail (``httpx2.StreamError``, which the SDK turns into the request's
    error) past ``limit`` bytes, since the SDK reads a JSON response whole; an event stream is left to
    the SDK's own bound on one event. A compressed body could unpack past any bound, and we asked for
    none: it fails at once."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    refusal = None if encoding == "identity" else f"the response is compressed ({encoding}); we asked for identity"
    events = response.headers.get("content-type", "").lower().startswith("text/event-stream")
    response.stream = _bounded_body()(response.stream, None if events else limit, refusal)


@functools.cache
def _bounded_body() -> type:
    import httpx2

    class BoundedBody(httpx2.AsyncByteStream):
        """A response body that fails past ``limit`` bytes, or with ``refusal`` before any."""

        def __init__(self, stream: httpx2.AsyncByteStream, limit: int | None, refusal: str | None):
            self.stream, self.limit, self.refusal = stream, limit, refusal

        async def __aiter__(self) -> Any:
            if self.refusal is not None:
                raise httpx2.StreamError(self.refusal)
            size = 0
            async for chunk in self.stream:
                size += len(chunk)
                if self.limit is not None and size > self.limit:
                    raise httpx2.StreamError(f"the response is over {self.limit} bytes")
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    return BoundedBody
