"""The exception tree of rtproto.

::

    RtprotoError
    ├── ProtocolError (ValueError)     a frame or event that breaks the protocol model
    │   ├── LocalProtocolError         an illegal call on our side; nothing was changed
    │   └── RemoteProtocolError        the peer sent something the model forbids
    ├── TranscriptError (ValueError)   a bad transcript line (carries the line number)
    ├── TransportError                 the websocket connection failed
    │   ├── AuthenticationError        the handshake was refused with 401/403
    │   ├── ConnectionClosed           the peer closed the socket (code, reason)
    │   └── ServerRefused              a fatal server error: no later request can succeed
    ├── AudioDeviceError               PortAudio missing, no device, bad device
    └── UsageError                     the command line or its config file asks the impossible
"""

from __future__ import annotations


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
    """The websocket connection could not be opened or was lost."""


class AuthenticationError(TransportError):
    """The server refused the handshake with 401 or 403 (the key is never shown)."""


class ServerRefused(TransportError):
    """The server answered with a fatal error (a bad key, no quota, an unknown model)."""


class ConnectionClosed(TransportError):
    """The peer closed the connection; ``code`` and ``reason`` come from the close frame."""

    def __init__(self, code: int | None, reason: str = ""):
        what = f"code {code}" if code is not None else "no close frame"
        super().__init__(f"connection closed ({what}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason

    @property
    def normal(self) -> bool:
        """True for a clean close (1000, or 1001 going away)."""
        return self.code in (1000, 1001)


class AudioDeviceError(RtprotoError):
    """Audio devices are unavailable; the message names the fix."""


class UsageError(RtprotoError):
    """A command-line flag or config-file value that cannot be used (the CLI exits 2)."""
