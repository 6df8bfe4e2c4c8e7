"""The exception tree of rtproto.

::

    RtprotoError
    ├── ProtocolError (ValueError)     a frame or event that breaks the protocol model
    │   ├── LocalProtocolError         an illegal call on our side; nothing was changed
    │   └── RemoteProtocolError        the peer sent something the model forbids
    ├── TranscriptError (ValueError)   a bad transcript line (carries the line number)
    ├── TransportError                 the websocket connection failed
    │   ├── AuthenticationError        the handshake was refused with 401/403
    │   ├── ConnectionClosed           the connection ended (code, reason, by, cause)
    │   └── ServerRefused              a fatal server error: no later request can succeed
    ├── AudioDeviceError               PortAudio missing, no device, bad device
    └── UsageError                     the command line or its config file asks the impossible
"""

from __future__ import annotations

from typing import Literal


class RtprotoError(Exception):
    """Base class of every error rtproto raises on purpose."""


class ProtocolError(RtprotoError, ValueError):
    """A frame or event does not fit the protocol model.

    ``event_type`` is the event's ``type`` when it could be read, ``path`` the
    JSON path of the offending value (``$.delta``) when there is one.
    """

    def __init__(self, message: str, *, event_type: str | None = None, path: str | None = None):
        super().__init__(message)
        self.event_type = event_type
        self.path = path


class LocalProtocolError(ProtocolError):
    """Our own side tried something illegal; the state machine is unchanged."""


class RemoteProtocolError(ProtocolError):
    """The server sent something the protocol model forbids."""


class TranscriptError(RtprotoError, ValueError):
    """A transcript line could not be read; ``line`` is 1-based."""

    def __init__(self, message: str, *, line: int | None = None, path: str | None = None):
        prefix = f"{path or 'transcript'}:{line}: " if line is not None else ""
        super().__init__(prefix + message)
        self.line = line
        self.path = path


class TransportError(RtprotoError):
    """The websocket connection could not be opened or was lost.

    ``status`` is the HTTP status of a refused handshake (401, 429, 500, ...), else ``None``.
    """

    def __init__(self, message: str = "", *, status: int | None = None):
        super().__init__(message)
        self.status = status


class AuthenticationError(TransportError):
    """The server refused the handshake with 401 or 403 (the key is never shown)."""


class ServerRefused(TransportError):
    """The server answered with a fatal error (a bad key, no quota, an unknown model)."""


ClosedBy = Literal["server", "client", "network"]


NORMAL_CLOSE_CODES = (1000, 1001)  # a clean close: the end, or an endpoint going away


class ConnectionClosed(TransportError):
    """The connection ended: who ended it, how, and why.

    ``code`` and ``reason`` come from the first close frame (1006 and
    ``"connection lost"`` when there was none). ``by`` says who ended it:
    ``"server"`` (the server sent the first close frame), ``"client"`` (rtproto
    did: the application closed, the server stopped answering pings, or the
    server broke the websocket protocol) or ``"network"`` (TCP ended without a
    close frame). ``cause`` says what happened in a few words ("the server
    stopped answering pings (10 s)"); ``str(exc)`` is a sentence for a person::

        the server closed the connection with code 1011: boom
        rtproto closed the connection with code 1011: the server stopped answering pings (10 s)
        the connection was lost without a close frame (code 1006)
    """

    def __init__(self, code: int | None, reason: str = "", *, by: ClosedBy = "server", cause: str | None = None):
        self.code = code
        self.reason = reason
        self.by = by
        self.cause = cause or _default_cause(code, reason, by)
        super().__init__(self._sentence())

    @property
    def normal(self) -> bool:
        """True for a clean close (1000, or 1001 going away)."""
        return self.code in NORMAL_CLOSE_CODES

    def _sentence(self) -> str:
        code = "no status code" if self.code is None else f"code {self.code}"
        match self.by:
            case "server":
                return f"the server closed the connection with {code}{': ' + self.reason if self.reason else ''}"
            case "client":
                return f"rtproto closed the connection with {code}: {self.cause}"
            case _:
                return f"the connection was lost without a close frame ({code})"


def _default_cause(code: int | None, reason: str, by: ClosedBy) -> str:
    match by:
        case "server":
            return f"the server closed with {code}{': ' + reason if reason else ''}"
        case "client":
            return reason or "closed by the application"
        case _:
            return "connection lost (no close frame)"


class AudioDeviceError(RtprotoError):
    """Audio devices are unavailable; the message names the fix."""


class UsageError(RtprotoError):
    """A command-line flag or config-file value that cannot be used (the CLI exits 2)."""
