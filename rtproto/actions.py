"""What the session core returns: actions for the I/O edge, and notices for display.

Every call into :class:`rtproto.session.Session` returns a list of outputs, in the
order they happened. There are two kinds:

*Actions* (:class:`Action`) the edge must perform:

- :class:`Send`: send this client event on the websocket (its ``event_id`` is set);
- :class:`ClearPlayback`: flush this content part from the speaker, then report what
  was really played with ``Session.playback_cleared``;
- :class:`AskApproval`: ask a person about a tool call (an MCP server's approval
  request, or a function call the policy asks about), then report the answer
  with ``Session.answer_approval`` (or, when nobody answered in time,
  ``Session.approval_timed_out``);
- :class:`CallFunction`: run a local function tool, then report its result with
  ``Session.function_result``;
- :class:`EndConversation`: a fatal error (a bad key, no quota): end the
  conversation now, telling the person ``message``.

The session may also have work for later (a retry the server asked to wait for,
a request that may go unanswered): its ``deadline_ms`` says when the edge should
call ``Session.tick``.

*Notices* (:class:`Notice`) report what happened; the CLI screen and the offline
replay report are both rendered from them and nothing else.

All outputs are frozen dataclasses and compare by value.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, Union

from rtproto.events import ClientEvent, McpApprovalRequest, UnknownEvent

__all__ = [
    "Action",
    "ApprovalAnswered",
    "ApprovalRequested",
    "AskApproval",
    "CallFunction",
    "ClearPlayback",
    "EndConversation",
    "FunctionApproval",
    "InputTimeout",
    "Notice",
    "Output",
    "PolicyViolation",
    "ProtocolViolation",
    "RateLimits",
    "RequestUnanswered",
    "ResponseStarted",
    "Resumed",
    "Retrying",
    "SessionExpires",
    "Send",
    "ServerError",
    "SpeechStarted",
    "SpeechStopped",
    "TokenUsage",
    "ToolCall",
    "ToolResult",
    "ToolsListed",
    "TranscriptDelta",
    "TranscriptDone",
    "TranscriptionFailed",
    "Truncated",
    "TurnDone",
    "TurnStats",
]

Role = Literal["user", "assistant"]
ToolKind = Literal["mcp", "function"]


class Action:
    """Base of the outputs the I/O edge must perform."""

    __slots__ = ()


class Notice:
    """Base of the outputs that only report (display, logs, replay report)."""

    __slots__ = ()


# ---------------------------------------------------------------------------
# Actions


@dataclass(frozen=True, slots=True)
class EndConversation(Action):
    """A fatal error: no later request can succeed. End the conversation with ``message``."""

    message: str


@dataclass(frozen=True, slots=True)
class Send(Action):
    """Send ``event`` to the server, as it is (it already carries its ``event_id``)."""

    event: ClientEvent | UnknownEvent


@dataclass(frozen=True, slots=True)
class ClearPlayback(Action):
    """Barge-in: stop playing this assistant content part and drop what is queued."""

    item_id: str
    content_index: int


@dataclass(frozen=True, slots=True)
class FunctionApproval:
    """A function call the client policy asks a person about, before it runs.

    Shaped like an ``mcp_approval_request`` (``id``, ``name``, ``arguments``) so that
    one prompt serves both; ``id`` is the call's ``call_id``. The core leaves
    ``server_label`` empty; an edge that knows the tool's server (a local MCP
    server's label) may fill it in for the question it shows.
    """

    id: str
    name: str
    arguments: str
    server_label: str | None = None


Question = Union[McpApprovalRequest, FunctionApproval]


@dataclass(frozen=True, slots=True)
class AskApproval(Action):
    """Ask a person whether the tool call in ``request`` may run."""

    request: Question


@dataclass(frozen=True, slots=True)
class CallFunction(Action):
    """Run the local function tool ``name`` with ``arguments`` (a JSON string)."""

    call_id: str
    name: str
    arguments: str


# ---------------------------------------------------------------------------
# Notices


@dataclass(frozen=True, slots=True)
class TranscriptDelta(Notice):
    """A piece of a user transcript or of assistant speech/text, as it streams."""

    role: Role
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TranscriptDone(Notice):
    """The final text of a user turn (transcribed or typed) or of an assistant part."""

    role: Role
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptionFailed(Notice):
    """The server could not transcribe the user's audio of ``item_id``."""

    item_id: str
    message: str | None


@dataclass(frozen=True, slots=True)
class SpeechStarted(Notice):
    """The server's VAD heard the user start speaking."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped(Notice):
    """The server's VAD heard the user stop speaking."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class ResponseStarted(Notice):
    """The server started response ``response_id`` (``response.created``)."""

    response_id: str


@dataclass(frozen=True, slots=True)
class ToolsListed(Notice):
    """An MCP server's tools were listed (``failed``: listing them failed)."""

    item_id: str
    server_label: str | None
    tools: tuple[str, ...]
    failed: bool = False


@dataclass(frozen=True, slots=True)
class ToolCall(Notice):
    """The model called a tool: ``mcp`` (run by the server) or ``function`` (run by us)."""

    kind: ToolKind
    item_id: str | None
    call_id: str | None
    server_label: str | None
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResult(Notice):
    """A tool call finished; exactly one of ``output`` and ``error`` is set."""

    kind: ToolKind
    item_id: str | None
    call_id: str | None
    name: str
    output: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ApprovalRequested(Notice):
    """A tool call needs approval (the server's request for an MCP tool, or the client
    policy's for a function tool); a person was asked."""

    request: Question


@dataclass(frozen=True, slots=True)
class ApprovalAnswered(Notice):
    """An approval request was answered: by a ``person``, by the client ``policy``, or
    denied because nobody answered before the edge's deadline (``timeout``)."""

    approval_request_id: str
    name: str
    approve: bool
    reason: str | None
    by: Literal["person", "policy", "timeout"]


@dataclass(frozen=True, slots=True)
class PolicyViolation(Notice):
    """The model called an MCP tool the client policy forbids (its response is cancelled)."""

    message: str
    item_id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class ServerError(Notice):
    """An ``error`` event; ``client_event_type`` names our event that caused it, if known;
    ``severity`` is its class in :mod:`rtproto.server_errors` (``transient``, ``benign``,
    ``fatal`` or ``other``)."""

    code: str | None
    message: str
    type: str
    param: str | None
    client_event_type: str | None
    severity: str = "other"


@dataclass(frozen=True, slots=True)
class Retrying(Notice):
    """A request failed for a passing reason (``cause``); it is tried again after ``after_ms``
    (try ``attempt`` of at most :data:`rtproto.server_errors.MAX_RETRIES`)."""

    cause: str
    after_ms: float
    attempt: int


@dataclass(frozen=True, slots=True)
class Resumed(Notice):
    """The conversation was carried over to a new connection with ``items`` re-seeded items;
    ``requested``: an unanswered turn was asked for again."""

    items: int
    requested: bool


@dataclass(frozen=True, slots=True)
class SessionExpires(Notice):
    """The server will end the session at ``expires_at`` (epoch seconds; ``session.created``)."""

    expires_at: int


@dataclass(frozen=True, slots=True)
class RequestUnanswered(Notice):
    """Our ``response.create`` got neither ``response.created`` nor an error within ``waited_ms``."""

    waited_ms: float


@dataclass(frozen=True, slots=True)
class RateLimits(Notice):
    """``rate_limits.updated``: ``(name, remaining, limit, reset_seconds)`` per limit."""

    limits: tuple[tuple[str, float | None, float | None, float | None], ...]


@dataclass(frozen=True, slots=True)
class InputTimeout(Notice):
    """``input_audio_buffer.timeout_triggered``: the server heard nothing for its idle timeout."""

    audio_start_ms: int | None
    audio_end_ms: int | None


@dataclass(frozen=True, slots=True)
class Truncated(Notice):
    """We truncated assistant audio at ``audio_end_ms`` (what the user really heard)."""

    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class ProtocolViolation(Notice):
    """The server broke the protocol model (live mode; strict mode raises instead)."""

    message: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one response, or totals; add two with ``+``."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class TurnStats:
    """One response from ``response.created`` to ``response.done``.

    ``latency_ms`` runs from the turn's start (the user's ``speech_stopped``, else our
    ``input_audio_buffer.commit``, else our ``response.create``) to the first audio
    delta; ``None`` without audio or without a known start. Times are the ``now_ms``
    values given to the session; ``started_ms`` is ``None`` when the server never
    sent ``response.created``.
    """

    response_id: str | None
    status: str | None
    reason: str | None
    usage: TokenUsage
    latency_ms: float | None
    started_ms: float | None
    ended_ms: float
    error: str | None = None  # a failed response's "type code: message" (status_details.error)
    error_code: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class TurnDone(Notice):
    """A response is done (``response.done``), with its statistics."""

    stats: TurnStats


Output = Union[Send, ClearPlayback, AskApproval, CallFunction, EndConversation, Notice]
