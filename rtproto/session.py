"""The sans-I/O session core: one Realtime conversation as a synchronous state machine.

Theory of operation
-------------------
A :class:`Session` never touches a socket, a clock or a sound device. The I/O edge
feeds it what happened and performs what it returns:

* ``receive(server_event, now_ms)``: a decoded server event;
* ``send(client_event)``, ``send_text``: what the app itself wants to send;
* ``answer_approval``, ``approval_timed_out``, ``function_result``,
  ``playback_cleared``: answers to the actions the core asked for (also
  ``local(dict)``, which takes them as the ``dir: "local"`` lines of a transcript).
  The core keeps no clock: the edge times an approval question out and says so.

Each call returns a list of outputs (:mod:`rtproto.actions`): actions to perform
(``Send`` a client event, ``ClearPlayback``, ``AskApproval``, ``CallFunction``) and
notices to display. Time is an argument (``now_ms``), used only for statistics.

What the core tracks, and the rules it applies:

* **Responses.** At most one response is in progress (``active_response_id``),
  from ``response.created`` to ``response.done``; a ``response.create`` we sent
  counts as *requested* until its ``response.created`` (or its ``error``).
  Sending another ``response.create`` in either state raises
  :class:`LocalProtocolError`: the server would answer
  ``conversation_already_has_active_response``.
* **The follow-up ``response.create``.** After a tool result the model must be
  asked to go on. An MCP call that completes (its item done with ``output`` or
  ``error``), an approval answered (by a person, by the policy or by a timeout; by the protocol
  the approval response item does not by itself start a response), a function
  output sent, and typed text all *owe* one ``response.create``. The debt is paid
  once the conversation is idle: no response in progress or requested, no
  function call awaiting its result, no approval awaiting a person. However many
  tools completed, one ``response.create`` is sent; if the server starts a
  response of its own first, the debt is dropped (that response sees the results).
* **Approvals and the tool policy.** An ``mcp_approval_request`` for a tool the
  :class:`~rtproto.policy.ToolPolicy` allows is approved; any other is put to a
  person (default deny: the edge denies it when nobody answers). An ``mcp_call``
  that runs without ``allow`` or a person's yes is a
  :class:`~rtproto.actions.PolicyViolation` and cancels its response (once);
  its completion owes no follow-up.
* **Function tools.** A ``function_call`` of a registered name becomes a
  ``CallFunction``; an unknown name is answered at once with an error output.
  (These tool rules live in :class:`rtproto.policy.ToolRules`, composed in as
  ``Session.tools``; they reach the conversation only through its port.)
* **Playback and barge-in.** Audio received per assistant content part is counted
  from the base64 length (never decoded) and the output format. When the user
  starts speaking, every part that may still be playing gets a ``ClearPlayback``;
  the edge reports what was really played and the core truncates the item there
  (once per item, never past what was received). ``playback_progress`` lets the
  edge say a part was played out, so a later barge-in leaves it alone.
* **Items** are kept in conversation order (``previous_item_id``). Every item
  event may repeat (``response.output_item.done`` then ``conversation.item.done``,
  and the items of ``response.done``), so each decision is taken on the first
  sighting only.

Server events are dispatched by a table (struct class -> handler). A server that
breaks the model (a delta for a response that is not in progress, a
``response.done`` without ``response.created``) yields a ``ProtocolViolation``
notice, or raises :class:`RemoteProtocolError` when ``strict``. Illegal local
calls raise :class:`LocalProtocolError` before anything changes.

Client events the core sends get ``event_id = "evt_<n>"`` from a counter that
every sent event advances (deterministic, so a replay assigns the same ids), so
that ``error.event_id`` names the event that caused an error.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from rtproto import server_errors
from rtproto.actions import (
    ClearPlayback, EndConversation, InputTimeout, Output, ProtocolViolation, RateLimits, RequestUnanswered,
    ResponseStarted, Resumed, Retrying, SessionExpires, Send, ServerError, SpeechStarted, SpeechStopped, TokenUsage, TranscriptDelta,
    TranscriptDone, TranscriptionFailed, Truncated, TurnDone, TurnStats,
)
from rtproto.errors import LocalProtocolError, RemoteProtocolError
from rtproto.events import (
    GA_SERVER, UNSET, AssistantMessage, ClientEvent, ConversationItem,
    ConversationItemAdded, ConversationItemCreate, ConversationItemCreated, ConversationItemDeleted,
    ConversationItemDone, ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta, ConversationItemInputAudioTranscriptionFailed,
    ConversationItemRetrieved, ConversationItemTruncate, ConversationItemTruncated, Error, FunctionCall,
    InputAudioBufferCommit, InputAudioBufferSpeechStarted, InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    McpApprovalRequest, McpCall, McpListTools, McpListToolsFailed, RateLimitsUpdated,
    RealtimeSession, ResponseCancel, ResponseCreate, ResponseCreated, ResponseDone,
    ResponseMcpCallArgumentsDone, ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta, ResponseOutputAudioTranscriptDone, ResponseOutputItemAdded,
    ResponseOutputItemDone, ResponseOutputTextDelta, ResponseOutputTextDone, SessionCreated, SessionUpdate,
    SessionUpdated, TranscriptionSession, UnknownEvent, UserContent, UserMessage,
    value_at,
)
from rtproto.lifecycle import Happening, ResponseSlot, SlotState
from rtproto.playback import audio_bytes, bytes_per_ms, describe_format, playable
from rtproto.policy import ToolPolicy, ToolRules
from rtproto.resume import RESEED_BUDGET, reseed

__all__ = ["ItemTranscript", "Session", "audio_bytes", "bytes_per_ms"]

_SENT_MEMORY = 4096  # event ids remembered for matching errors
REQUEST_TIMEOUT_MS = 10_000.0  # a response.create unanswered this long frees the slot
# Response streaming events: they carry the response they belong to.
_STREAM_EVENTS = frozenset(
    cls for cls in GA_SERVER.classes.values() if {"response_id", "output_index"} <= set(cls.__struct_fields__)
)


@dataclass(frozen=True, slots=True)
class ItemTranscript:
    """What was said or typed in one item so far; ``done`` once the final text arrived."""

    role: str
    text: str
    done: bool


@dataclass(slots=True)
class _Part:
    # One assistant audio content part: its format, what arrived, what the edge says was played.
    response_id: str
    format: Any  # the events audio format object (AudioPCM, AudioPCMU, AudioPCMA)
    bytes_per_ms: float
    received_bytes: int = 0
    played_ms: float = 0.0
    cleared: bool = False  # ClearPlayback was sent for it

    @property
    def received_ms(self) -> float:
        return self.received_bytes / self.bytes_per_ms


@dataclass(slots=True)
class _Response:
    id: str
    started_ms: float | None
    anchor_ms: float | None = None
    format: Any = None  # the response's own output audio format, when it has one
    first_audio_ms: float | None = None
    done: bool = False


def _item_id(item: ConversationItem) -> str | None:
    return value_at(item, "id")


class Session:
    """One Realtime conversation, sans I/O. See the module docstring for the rules.

    ``policy`` decides which MCP tools run without asking (``None``: none, every
    approval request is put to a person); ``function_tools`` are the names of function tools the edge can run;
    ``strict`` makes a misbehaving server raise :class:`RemoteProtocolError` instead
    of producing a :class:`~rtproto.actions.ProtocolViolation` notice.
    """

    def __init__(self, *, policy: ToolPolicy | None = None, function_tools: Iterable[str] = (), strict: bool = False):
        self.tools = ToolRules(policy, function_tools, _Port(self))
        self.strict = strict
        self._items: dict[str, ConversationItem] = {}
        self._order: list[str] = []
        self._responses: dict[str, _Response] = {}
        self._slot = ResponseSlot()
        self._followup = False  # a response.create is owed once idle ...
        self._not_before_ms = 0.0  # ... and not before this (a retry the server asked to wait for)
        self._retries = 0  # transient failures of the owed request in a row
        self._anchor: float | None = None  # start of the next turn, for latency
        self._seen: set[tuple[str, str]] = set()  # first sightings: (what, id)
        self._parts: dict[tuple[str, int], _Part] = {}
        self._truncated: set[str] = set()
        self._truncating: dict[str, tuple[str, int, float]] = {}  # our truncate's event_id -> what it undoes
        self._texts: dict[str, ItemTranscript] = {}
        self._sent: dict[str, str] = {}  # event_id -> type of the client event
        self._event_count = 0
        self._format: Any = None  # the session's output audio format (None: PCM16 at 24 kHz)
        self._config: Any = None  # the session configuration last sent (re-sent on a new connection)
        self._reseeded: collections.Counter[str] = collections.Counter()  # user texts resume() sent again
        self._unconfirmed: collections.Counter[str] = collections.Counter()  # typed texts the server has not echoed
        self.expired = False  # the server said the session hit its maximum duration
        self.expires_at: int | None = None  # when the server will end the session (epoch seconds)
        self._usage = TokenUsage()
        self._turns: list[TurnStats] = []
        self.rate_limits: list[Any] = []

    # -- read-only state -------------------------------------------------------

    @property
    def items(self) -> list[ConversationItem]:
        """The conversation's items, in conversation order (latest version of each)."""
        return [self._items[item_id] for item_id in self._order]

    @property
    def active_response_id(self) -> str | None:
        """The response in progress, if any."""
        return self._slot.response_id

    @property
    def response_state(self) -> SlotState:
        """Where the conversation's response slot stands (:mod:`rtproto.lifecycle`)."""
        return self._slot.state

    @property
    def busy(self) -> bool:
        """True while a response runs or is owed, or a tool or a person is still to answer."""
        return bool(not self._slot.idle or self._followup or self.tools.waiting)

    @property
    def deadline_ms(self) -> float | None:
        """When :meth:`tick` has work (a retry to send, a request to give up on), or None."""
        if self._slot.state is SlotState.REQUESTED and self._slot.requested_ms is not None:
            return self._slot.requested_ms + REQUEST_TIMEOUT_MS
        if self._followup and self._not_before_ms and self._slot.idle and not self.tools.waiting:
            return self._not_before_ms
        return None

    def output_format(self, item_id: str, content_index: int) -> Any:
        """The audio format of an assistant content part (the events format object:
        ``AudioPCM``, ``AudioPCMU`` or ``AudioPCMA``; None: PCM16 at 24 kHz). The edge
        decodes and plays with it, so that what the core counts is what is heard."""
        part = self._parts.get((item_id, content_index))
        return part.format if part is not None else self._format

    @property
    def policy(self) -> ToolPolicy:
        """The client-side tool policy."""
        return self.tools.policy

    @property
    def function_tools(self) -> frozenset[str]:
        """The names of the function tools the edge can run."""
        return self.tools.function_tools

    @property
    def pending_approvals(self) -> dict[str, McpApprovalRequest]:
        """Approval requests a person was asked about and has not answered, by id."""
        return self.tools.pending_approvals

    @property
    def pending_calls(self) -> dict[str, Any]:
        """Function calls handed to the edge and still without a result, by ``call_id``."""
        return self.tools.pending_calls

    def answer_approval(self, approval_request_id: str, approve: bool, reason: str | None = None,
                        now_ms: float = 0.0) -> list[Output]:
        """A person answered an approval request: send the ``mcp_approval_response`` item
        (then the follow-up ``response.create`` when idle)."""
        return self.tools.answer_approval(approval_request_id, approve, reason, now_ms)

    def approval_timed_out(self, approval_request_id: str, now_ms: float = 0.0) -> list[Output]:
        """Nobody answered an approval request before the edge's deadline: deny it, reported
        as answered by ``"timeout"`` (then the follow-up ``response.create`` when idle)."""
        return self.tools.approval_timed_out(approval_request_id, now_ms)

    def function_result(self, call_id: str, output: str, *, is_error: bool = False, now_ms: float = 0.0) -> list[Output]:
        """A function tool returned (``is_error``: it raised): send the ``function_call_output``
        (then the follow-up ``response.create``)."""
        return self.tools.function_result(call_id, output, is_error=is_error, now_ms=now_ms)

    def set_tools(self, function_tools: Iterable[str], policy: ToolPolicy, now_ms: float = 0.0) -> list[Output]:
        """The edge's function tools or the policy changed (say, a local MCP server's tools
        did): later calls are decided by these. Returns nothing; the edge sends the
        ``session.update`` that tells the server."""
        self.tools.set_tools(function_tools, policy)
        return []

    @property
    def audio_received_ms(self) -> dict[tuple[str, int], float]:
        """Milliseconds of assistant audio received per ``(item_id, content_index)``."""
        return {key: part.received_ms for key, part in self._parts.items()}

    @property
    def audio_played_ms(self) -> dict[tuple[str, int], float]:
        """Milliseconds reported played per ``(item_id, content_index)``."""
        return {key: part.played_ms for key, part in self._parts.items()}

    @property
    def transcripts(self) -> dict[str, ItemTranscript]:
        """User and assistant transcripts by item id."""
        return dict(self._texts)

    @property
    def usage(self) -> TokenUsage:
        """Token totals over every ``response.done``."""
        return self._usage

    @property
    def turns(self) -> list[TurnStats]:
        """Statistics of each finished response, in order."""
        return list(self._turns)

    # -- inputs ----------------------------------------------------------------

    def start(self, session: RealtimeSession | TranscriptionSession | None = None, now_ms: float = 0.0) -> list[Output]:
        """Begin: returns ``[Send(session.update)]`` for ``session``, or nothing."""
        if session is None:
            return []
        return self.send(SessionUpdate(session=session), now_ms)

    def receive(self, event: Any, now_ms: float = 0.0) -> list[Output]:
        """Process one decoded server event; unknown events are ignored."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return []
        if type(event) in _STREAM_EVENTS and event.response_id != self._slot.response_id:
            out = self._violation(f"{event.type} for response {event.response_id!r}, "
                                  f"which is {self._response_state(event.response_id)}", event.type)
            return out + handler(self, event, now_ms)
        return handler(self, event, now_ms)

    def send(self, event: ClientEvent | UnknownEvent, now_ms: float = 0.0) -> list[Output]:
        """Validate and track a client event the app wants to send; returns ``[Send(event), ...]``.

        Illegal events raise :class:`LocalProtocolError` and change nothing:
        ``response.create`` while a response is in progress or requested,
        ``response.cancel`` with nothing to cancel, a truncate of an unknown or
        non-assistant item or past the audio received, an approval response or
        function output for an unknown or answered request. An approval response
        or function output may be followed by the follow-up ``response.create``.
        """
        if not isinstance(event, (ClientEvent, UnknownEvent)):
            raise LocalProtocolError(f"send() takes a client event, not {type(event).__name__}")
        check = _SEND_CHECKS.get(type(event))
        if check is not None:
            check(self, event)
        notices = self._sent_notices(event)  # before the effect forgets the call or request
        return [self._emit(event, now_ms), *notices] + self._flush(now_ms)

    def send_text(self, text: str, now_ms: float = 0.0) -> list[Output]:
        """Send typed user text: a user ``input_text`` message, then ``response.create``
        (deferred while a response is in progress)."""
        if not isinstance(text, str):
            raise LocalProtocolError(f"text must be a string, got {type(text).__name__}")
        item = UserMessage(content=[UserContent(type="input_text", text=text)])
        out: list[Output] = [self._emit(ConversationItemCreate(item=item), now_ms)]
        self._unconfirmed[text] += 1
        self._followup = True
        return out + self._flush(now_ms)

    def resume(self, now_ms: float = 0.0, budget: int = RESEED_BUDGET) -> list[Output]:
        """A new connection replaced a lost one: the resume plan (:mod:`rtproto.resume`).

        Sends the session configuration last sent, the conversation so far re-seeded
        within ``budget`` characters, the typed lines the old server never echoed,
        and a ``response.create`` when a turn was left unanswered. What lived only on the old connection is forgotten: the response
        slot, pending approvals and function calls (their answers can no longer be
        sent), audio parts, and items (they come back with new ids).
        """
        unanswered = self._followup or self._slot.state in (SlotState.REQUESTED, SlotState.ACTIVE)
        transcripts = {item_id: t.text for item_id, t in self._texts.items() if t.done}
        # Lines typed whose item the old server never echoed are sent again, last (they still
        # count as unconfirmed until the new server echoes them).
        unconfirmed = [UserMessage(content=[UserContent(type="input_text", text=text)])
                       for text in self._unconfirmed.elements()]
        items = reseed(self.items, transcripts, budget) + unconfirmed
        self._forget_connection()
        out: list[Output] = []
        if self._config is not None:
            out.append(self._emit(SessionUpdate(session=self._config), now_ms))
        out += [self._emit(ConversationItemCreate(item=item), now_ms) for item in items]
        self._reseeded = collections.Counter(item.content[0].text for item in items if isinstance(item, UserMessage))
        self._followup = unanswered
        return out + [Resumed(len(items), unanswered)] + self._flush(now_ms)

    def _forget_connection(self) -> None:
        # Ids name things of the old session only; the statistics (turns, usage) stay.
        self._slot = ResponseSlot()
        self._responses.clear()
        self._seen.clear()
        self._items.clear()
        self._order.clear()
        self._parts.clear()
        self._truncated.clear()
        self._truncating.clear()
        self.tools.forget()
        self._not_before_ms, self._retries = 0.0, 0
        self.expired, self.expires_at = False, None

    def tick(self, now_ms: float) -> list[Output]:
        """The edge's clock reached :attr:`deadline_ms`: give up on an unanswered
        ``response.create``, or send a retry that was waiting."""
        out: list[Output] = []
        requested = self._slot.requested_ms
        if self._slot.state is SlotState.REQUESTED and requested is not None and now_ms >= requested + REQUEST_TIMEOUT_MS:
            self._slot.server(Happening.EXPIRED)
            out.append(RequestUnanswered(now_ms - requested))
        return out + self._flush(now_ms)

    def playback_cleared(self, item_id: str, content_index: int, played_ms: float, now_ms: float = 0.0) -> list[Output]:
        """The speaker was flushed after playing ``played_ms`` of this part: truncate the
        item there (at most what was received; once per item; not when everything
        received was played and its response is done)."""
        part = self._check_playback(item_id, content_index, played_ms)
        if part is None:
            return []
        part.cleared = True
        part.played_ms = min(max(part.played_ms, played_ms), part.received_ms)
        if item_id in self._truncated or part.received_bytes == 0:
            return []
        if played_ms >= part.received_ms and part.response_id != self._slot.response_id:
            return []
        end = int(min(played_ms, part.received_ms))
        truncate = ConversationItemTruncate(item_id=item_id, content_index=content_index, audio_end_ms=end)
        return [self._emit(truncate, now_ms), Truncated(item_id, content_index, end)]

    def playback_progress(self, item_id: str, content_index: int, played_ms: float) -> list[Output]:
        """Optional: report how much of a part has been played, so that a barge-in does
        not clear parts already played out. Returns nothing."""
        part = self._check_playback(item_id, content_index, played_ms)
        if part is not None:
            part.played_ms = min(max(part.played_ms, played_ms), part.received_ms)
        return []

    def local(self, event: Mapping[str, Any], now_ms: float = 0.0) -> list[Output]:
        """Dispatch a transcript local line: ``approval.answer`` (``answer_approval``, or
        ``approval_timed_out`` when it has ``"by": "timeout"``), ``playback.cleared``,
        ``function.result``, ``text.input``, ``tools.changed`` (:meth:`set_tools`),
        ``connection.resumed`` (:meth:`resume`); other
        types are ignored."""
        kind = event.get("type") if isinstance(event, Mapping) else None
        handler = _LOCAL_HANDLERS.get(kind)
        return handler(self, _LocalFields(event), now_ms) if handler else []

    # -- checks (raise before anything changes) --------------------------------

    def _violation(self, message: str, event_type: str | None = None) -> list[Output]:
        if self.strict:
            raise RemoteProtocolError(message, event_type=event_type)
        return [ProtocolViolation(message)]

    def _response_state(self, response_id: str | None) -> str:
        response = self._responses.get(response_id) if response_id else None
        return "unknown" if response is None else "done" if response.done else "not in progress"

    def _check_playback(self, item_id: str, content_index: int, played_ms: float) -> _Part | None:
        if isinstance(played_ms, bool) or not isinstance(played_ms, (int, float)) or not played_ms >= 0:
            raise LocalProtocolError(f"played_ms must be a number >= 0, got {played_ms!r}")
        item = self._items.get(item_id)
        if item is not None and not isinstance(item, AssistantMessage):
            raise LocalProtocolError(f"item {item_id!r} is not an assistant message (it is a {type(item).__name__})")
        part = self._parts.get((item_id, content_index))
        if part is None and item is None and not any(key[0] == item_id for key in self._parts):
            raise LocalProtocolError(f"unknown item {item_id!r}")
        return part

    def _check_response_create(self, event: ResponseCreate) -> None:
        self._slot.check(Happening.SEND_CREATE)

    def _check_cancel(self, event: ResponseCancel) -> None:
        self._slot.check(Happening.SEND_CANCEL)
        wanted = event.response_id if isinstance(event.response_id, str) else None
        if wanted is not None and wanted != self._slot.response_id:
            raise LocalProtocolError(f"response.cancel for {wanted!r}, which is {self._response_state(wanted)}")

    def _check_truncate(self, event: ConversationItemTruncate) -> None:
        part = self._check_playback(event.item_id, event.content_index, event.audio_end_ms)
        received = part.received_ms if part is not None else 0.0
        if event.audio_end_ms > received:
            raise LocalProtocolError(f"audio_end_ms {event.audio_end_ms} is past the {received:.1f} ms "
                                     f"received for item {event.item_id!r}")

    # -- sending ---------------------------------------------------------------

    def _emit(self, event: ClientEvent | UnknownEvent, now_ms: float) -> Send:
        # The one way out: numbers the event, remembers its id, applies its effect.
        self._event_count += 1
        if isinstance(event, ClientEvent) and event.event_id is UNSET:
            event = msgspec.structs.replace(event, event_id=f"evt_{self._event_count}")
        event_id = event.raw.get("event_id") if isinstance(event, UnknownEvent) else event.event_id
        if isinstance(event_id, str):
            self._sent[event_id] = event.type
            if len(self._sent) > _SENT_MEMORY:
                del self._sent[next(iter(self._sent))]
        effect = _SEND_EFFECTS.get(type(event))
        if effect is not None:
            effect(self, event, now_ms)
        return Send(event)

    def _on_sent_response_create(self, event: ResponseCreate, now_ms: float) -> None:
        self._slot.send(Happening.SEND_CREATE, now_ms)
        self._followup, self._not_before_ms = False, 0.0
        self._start_turn(now_ms)

    def _on_sent_session_update(self, event: SessionUpdate, now_ms: float) -> None:
        self._config = event.session

    def _on_sent_commit(self, event: InputAudioBufferCommit, now_ms: float) -> None:
        self._start_turn(now_ms)

    def _on_sent_cancel(self, event: ResponseCancel, now_ms: float) -> None:
        self._slot.send(Happening.SEND_CANCEL, now_ms)

    def _on_sent_truncate(self, event: ConversationItemTruncate, now_ms: float) -> None:
        part = self._parts.get((event.item_id, event.content_index))
        undo = (event.item_id, event.content_index, part.played_ms if part is not None else 0.0)
        self._truncating[event.event_id] = undo  # until the server confirms or refuses it
        self._truncated.add(event.item_id)
        if part is not None:
            part.played_ms = float(event.audio_end_ms)

    def _truncate_refused(self, event_id: str) -> None:
        item_id, content_index, played_ms = self._truncating.pop(event_id)
        self._truncated.discard(item_id)
        part = self._parts.get((item_id, content_index))
        if part is not None:
            part.played_ms = played_ms

    def _sent_notices(self, event: Any) -> list[Output]:
        # Notices for app-sent events that the core would otherwise have produced itself.
        if isinstance(event, ConversationItemTruncate):
            return [Truncated(event.item_id, event.content_index, event.audio_end_ms)]
        return self.tools.item_sent_notices(getattr(event, "item", None))

    def _flush(self, now_ms: float) -> list[Output]:
        # Pays the follow-up response.create once nothing is running or awaited (and any
        # wait the server asked for is over).
        if not self._followup or not self._slot.idle or self.tools.waiting or self.expired:
            return []
        if now_ms < self._not_before_ms:
            return []
        return [self._emit(ResponseCreate(), now_ms)]

    def _owe_retry(self, cause: str, message: str | None, now_ms: float) -> list[Output]:
        # A transient failure of our request: owe it again, after the wait the server asks for.
        if self._retries >= server_errors.MAX_RETRIES:
            self._retries = 0
            return []
        self._retries += 1
        wait = server_errors.retry_after_ms(message)
        self._followup, self._not_before_ms = True, now_ms + wait
        return [Retrying(cause, wait, self._retries)]

    def _start_turn(self, now_ms: float) -> None:
        if self._anchor is None:
            self._anchor = now_ms

    def _first(self, what: str, key: str) -> bool:
        if (what, key) in self._seen:
            return False
        self._seen.add((what, key))
        return True

    # -- items -----------------------------------------------------------------

    def _place(self, item: ConversationItem, previous_item_id: Any = UNSET) -> None:
        item_id = _item_id(item)
        if item_id is None:
            return
        if item_id not in self._items:
            self._order.insert(self._position(previous_item_id), item_id)
        self._items[item_id] = item

    def _position(self, previous_item_id: Any) -> int:
        if previous_item_id is None:
            return 0
        try:
            return self._order.index(previous_item_id) + 1
        except ValueError:  # UNSET or unknown: append
            return len(self._order)

    def _see(self, item: ConversationItem, done: bool, response_id: str | None, now_ms: float) -> list[Output]:
        handler = _ITEM_HANDLERS.get(type(item))
        return handler(self, item, done, response_id or self._slot.response_id, now_ms) if handler else []

    def _see_user_message(self, item: UserMessage, done: bool, response_id: str | None,
                          now_ms: float) -> list[Output]:
        texts = [part.text for part in item.content if part.type == "input_text" and isinstance(part.text, str)]
        item_id = _item_id(item)
        if not texts or item_id is None or not self._first("typed", item_id):
            return []
        text = "".join(texts)
        if self._unconfirmed[text]:
            self._unconfirmed[text] -= 1
        if self._reseeded[text]:  # a turn carried over by resume(): it was shown when it was said
            self._reseeded[text] -= 1
            return []
        return self._text_done("user", item_id, text)

    def _text_delta(self, role: str, item_id: str, delta: str) -> list[Output]:
        known = self._texts.get(item_id)
        self._texts[item_id] = ItemTranscript(role, (known.text if known else "") + delta, False)
        return [TranscriptDelta(role, item_id, delta)]  # type: ignore[arg-type]

    def _text_done(self, role: str, item_id: str, text: str) -> list[Output]:
        self._texts[item_id] = ItemTranscript(role, text, True)
        return [TranscriptDone(role, item_id, text)]  # type: ignore[arg-type]

    # -- server event handlers -------------------------------------------------

    def _on_session(self, event: SessionCreated | SessionUpdated, now_ms: float) -> list[Output]:
        out: list[Output] = []
        expires_at = value_at(event.session, "expires_at")
        if type(expires_at) is int and expires_at != self.expires_at:
            self.expires_at = expires_at
            out.append(SessionExpires(expires_at))
        audio_format = value_at(event.session, "audio", "output", "format")
        if not isinstance(event.session, RealtimeSession) or audio_format is None:
            return out
        if not playable(audio_format):
            return out + self._violation(f"{event.type}: an output audio format the client cannot play "
                                         f"({describe_format(audio_format)}); keeping the previous one", event.type)
        self._format = audio_format
        return out

    def _on_item_added(self, event: ConversationItemAdded | ConversationItemDone, now_ms: float) -> list[Output]:
        self._place(event.item, event.previous_item_id)
        return self._see(event.item, isinstance(event, ConversationItemDone), None, now_ms)

    def _on_output_item(self, event: ResponseOutputItemAdded | ResponseOutputItemDone, now_ms: float) -> list[Output]:
        self._place(event.item)
        return self._see(event.item, isinstance(event, ResponseOutputItemDone), event.response_id, now_ms)

    def _on_item_retrieved(self, event: ConversationItemRetrieved, now_ms: float) -> list[Output]:
        self._place(event.item)
        return []

    def _on_item_deleted(self, event: ConversationItemDeleted, now_ms: float) -> list[Output]:
        if self._items.pop(event.item_id, None) is not None:
            self._order.remove(event.item_id)
        return []

    def _on_item_truncated(self, event: ConversationItemTruncated, now_ms: float) -> list[Output]:
        for event_id, (item_id, _, _) in list(self._truncating.items()):
            if item_id == event.item_id:
                del self._truncating[event_id]  # confirmed
        self._truncated.add(event.item_id)
        part = self._parts.get((event.item_id, event.content_index))
        if part is not None:
            part.played_ms = min(float(event.audio_end_ms), part.received_ms)
        return []

    def _on_user_delta(self, event: ConversationItemInputAudioTranscriptionDelta, now_ms: float) -> list[Output]:
        return self._text_delta("user", event.item_id, event.delta or "")

    def _on_user_transcript(self, event: ConversationItemInputAudioTranscriptionCompleted,
                            now_ms: float) -> list[Output]:
        return self._text_done("user", event.item_id, event.transcript)

    def _on_transcription_failed(self, event: ConversationItemInputAudioTranscriptionFailed,
                                 now_ms: float) -> list[Output]:
        return [TranscriptionFailed(event.item_id, value_at(event.error, "message"))]

    def _on_assistant_delta(self, event: ResponseOutputAudioTranscriptDelta | ResponseOutputTextDelta,
                            now_ms: float) -> list[Output]:
        return self._text_delta("assistant", event.item_id, event.delta)

    def _on_assistant_done(self, event: ResponseOutputAudioTranscriptDone | ResponseOutputTextDone,
                           now_ms: float) -> list[Output]:
        text = event.transcript if isinstance(event, ResponseOutputAudioTranscriptDone) else event.text
        return self._text_done("assistant", event.item_id, text)

    def _on_speech_started(self, event: InputAudioBufferSpeechStarted, now_ms: float) -> list[Output]:
        out: list[Output] = [SpeechStarted(event.item_id, event.audio_start_ms)]
        for (item_id, content_index), part in self._parts.items():
            if not part.cleared and item_id not in self._truncated and part.played_ms < part.received_ms:
                part.cleared = True
                out.append(ClearPlayback(item_id, content_index))
        return out

    def _on_speech_stopped(self, event: InputAudioBufferSpeechStopped, now_ms: float) -> list[Output]:
        self._start_turn(now_ms)
        return [SpeechStopped(event.item_id, event.audio_end_ms)]

    def _on_audio_delta(self, event: ResponseOutputAudioDelta, now_ms: float) -> list[Output]:
        response = self._responses.get(event.response_id)
        key = (event.item_id, event.content_index)
        part = self._parts.get(key)
        if part is None:
            fmt = response.format if response is not None and response.format is not None else self._format
            part = self._parts[key] = _Part(event.response_id, fmt, bytes_per_ms(fmt))
        part.received_bytes += audio_bytes(event.delta)
        if response is not None and response.first_audio_ms is None:
            response.first_audio_ms = now_ms
        return []

    def _on_rate_limits(self, event: RateLimitsUpdated, now_ms: float) -> list[Output]:
        self.rate_limits = list(event.rate_limits)
        limits = tuple((value_at(limit, "name") or "?", value_at(limit, "remaining"), value_at(limit, "limit"),
                        value_at(limit, "reset_seconds")) for limit in event.rate_limits)
        return [RateLimits(limits)]

    def _on_input_timeout(self, event: InputAudioBufferTimeoutTriggered, now_ms: float) -> list[Output]:
        return [InputTimeout(value_at(event, "audio_start_ms"), value_at(event, "audio_end_ms"))]

    def _on_error(self, event: Error, now_ms: float) -> list[Output]:
        info = event.error
        code, message = value_at(info, "code"), value_at(info, "message") or ""
        severity = server_errors.classify(code, value_at(info, "type"))
        event_id = value_at(info, "event_id")
        cause = self._sent.get(event_id) if isinstance(event_id, str) else None
        if cause is None and self._slot.state is SlotState.REQUESTED:
            cause = "response.create"  # no event_id we know: an error now answers our waiting request
        out: list[Output] = [ServerError(code, message, value_at(info, "type") or "error", value_at(info, "param"),
                                         cause, severity)]
        if cause == "conversation.item.truncate" and event_id in self._truncating:
            self._truncate_refused(event_id)
        if cause == "response.create":
            out += self._create_refused(code, message, severity, now_ms)
        if severity == "fatal":
            out.append(EndConversation(f"{code or value_at(info, 'type') or 'error'}: {message}"))
        self.expired = self.expired or code == server_errors.SESSION_EXPIRED  # nothing more is sent on it
        return out + self._flush(now_ms)

    def _create_refused(self, code: str | None, message: str, severity: str, now_ms: float) -> list[Output]:
        # No response.created follows a refused create. Refused because a response runs:
        # the request is owed until that response is done (so the turn is answered once).
        if code == server_errors.SESSION_EXPIRED:  # owed to the next session, which resume() asks
            self._slot.server(Happening.REFUSED)
            self._followup = True
            return []
        if code == server_errors.ALREADY_ACTIVE:
            self._slot.server(Happening.REFUSED)
            if self._slot.idle:
                self._slot.server(Happening.CREATED, None)  # one runs that we have not seen start
            self._followup = True
            return []
        self._slot.server(Happening.REFUSED)
        return self._owe_retry(code or "error", message, now_ms) if severity == "transient" else []

    def _on_response_created(self, event: ResponseCreated, now_ms: float) -> list[Output]:
        response_id = value_at(event.response, "id")
        if response_id is None:
            return self._violation("response.created without a response id", event.type)
        if response_id in self._responses:
            return self._violation(f"response.created for {response_id!r} a second time", event.type)
        ours = self._slot.state is SlotState.REQUESTED or self._slot.adopting
        if self._slot.state is SlotState.REQUESTED:
            self._unconfirmed.clear()  # our response.create followed the typed items: the server has them
        problem = self._slot.problem(Happening.CREATED, response_id)
        out = self._violation(problem, event.type) if problem else []  # strict mode raises here
        self._slot.server(Happening.CREATED, response_id)
        fmt = value_at(event.response, "audio", "output", "format")
        self._responses[response_id] = _Response(response_id, now_ms, self._anchor,
                                                 fmt if fmt is not None and playable(fmt) else None)
        self._anchor = None
        if not ours and not self._not_before_ms:
            self._followup = False  # the server went on by itself: that response sees the results
        return out + [ResponseStarted(response_id)]

    def _on_response_done(self, event: ResponseDone, now_ms: float) -> list[Output]:
        response_id = value_at(event.response, "id")
        response = self._responses.get(response_id) if response_id else None
        out: list[Output] = []
        if response is None or response.done:
            state = "never created" if response is None else "already done"
            out = self._violation(f"response.done for {response_id!r}, which was {state}", event.type)
        if response is None or not response.done:
            self._slot.server(Happening.DONE, response_id)  # its misbehaviour is told above
        for item in value_at(event.response, "output") or ():
            self._place(item)
            out += self._see(item, True, response_id, now_ms)
        stats = self._finish(response, response_id, event, now_ms)
        out += [TurnDone(stats), *self.tools.release_calls(response_id, stats.status, now_ms)]
        return out + self._after_status(stats, now_ms) + self._flush(now_ms)

    def _after_status(self, stats: TurnStats, now_ms: float) -> list[Output]:
        # A failed response: retried when the failure passes, the end when it is fatal.
        if stats.status != "failed":
            self._retries = 0
            return []
        code, kind = stats.error_code, stats.error_type
        severity = server_errors.classify(code, kind)
        if severity == "fatal":
            return [EndConversation(stats.error or "the response failed")]
        if severity == "transient":
            return self._owe_retry(code or kind or "failed", stats.error, now_ms)
        return []

    def _finish(self, response: _Response | None, response_id: str | None, event: ResponseDone,
                now_ms: float) -> TurnStats:
        usage = _token_usage(value_at(event.response, "usage"))
        self._usage += usage
        latency = None
        if response is not None:
            response.done = True
            if response.first_audio_ms is not None and response.anchor_ms is not None:
                latency = response.first_audio_ms - response.anchor_ms
        details = value_at(event.response, "status_details")
        stats = TurnStats(response_id, value_at(event.response, "status"), value_at(details, "reason"), usage, latency,
                          response.started_ms if response else None, now_ms, *server_errors.status_error(details))
        self._turns.append(stats)
        return stats

    def _on_ignored(self, event: Any, now_ms: float) -> list[Output]:
        return []  # streaming events checked by receive() and otherwise not needed

    # -- local lines -----------------------------------------------------------

    def _local_approval(self, fields: _LocalFields, now_ms: float) -> list[Output]:
        # "by": "timeout" replays approval_timed_out (its reason is the core's own); without
        # "by" (older transcripts) or with "person", the line is a person's answer.
        request_id, approve = fields.get("approval_request_id", str), fields.get("approve", bool)
        if fields.choice("by", ("person", "timeout"), default="person") == "person":
            return self.answer_approval(request_id, approve, fields.get("reason", str, optional=True), now_ms)
        if approve:
            raise LocalProtocolError(f"{fields.type}: a timeout denies, so 'approve' must be false at $.approve",
                                     event_type=fields.type, path="$.approve")
        return self.approval_timed_out(request_id, now_ms)

    def _local_function(self, fields: _LocalFields, now_ms: float) -> list[Output]:
        is_error = fields.get("is_error", bool, optional=True) or False
        return self.function_result(fields.get("call_id", str), fields.get("output", str),
                                    is_error=is_error, now_ms=now_ms)

    def _local_playback(self, fields: _LocalFields, now_ms: float) -> list[Output]:
        return self.playback_cleared(fields.get("item_id", str), fields.get("content_index", int),
                                     fields.get("played_ms", float), now_ms)

    def _local_tools(self, fields: _LocalFields, now_ms: float) -> list[Output]:
        try:
            policy = ToolPolicy.from_dict(fields.get("policy", dict))
        except ValueError as exc:
            raise LocalProtocolError(f"{fields.type}: {exc} at $.policy", event_type=fields.type, path="$.policy") from None
        return self.set_tools(fields.names("function_tools"), policy, now_ms)

    def _local_text(self, fields: _LocalFields, now_ms: float) -> list[Output]:
        return self.send_text(fields.get("text", str), now_ms)

    def _local_resumed(self, fields: _LocalFields, now_ms: float) -> list[Output]:
        budget = fields.get("budget", int, optional=True)
        return self.resume(now_ms, RESEED_BUDGET if budget is None else budget)


class _LocalFields:
    # Typed access to a local event's fields; errors name the event type and key.

    def __init__(self, event: Mapping[str, Any]):
        self.event = event
        self.type = event.get("type")

    def get(self, key: str, kind: type, *, optional: bool = False) -> Any:
        value = self.event.get(key)
        if value is None and optional:
            return None
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            raise LocalProtocolError(f"{self.type}: '{key}' must be {kind.__name__}, got {value!r:.60} at $.{key}",
                                     event_type=self.type, path=f"$.{key}")
        return value

    def names(self, key: str) -> list[str]:
        value = self.get(key, list)
        if not all(isinstance(name, str) for name in value):
            raise LocalProtocolError(f"{self.type}: '{key}' must be a list of names at $.{key}",
                                     event_type=self.type, path=f"$.{key}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], *, default: str) -> str:
        # An optional field that takes one of a few strings (absent or null: the default).
        value = self.event.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            raise LocalProtocolError(f"{self.type}: '{key}' must be one of {', '.join(map(repr, choices))}, "
                                     f"got {value!r:.60} at $.{key}", event_type=self.type, path=f"$.{key}")
        return value


def _token_usage(usage: Any) -> TokenUsage:
    if usage is None:
        return TokenUsage()

    def count(*path: str) -> int:
        return value_at(usage, *path) or 0

    return TokenUsage(
        input_tokens=count("input_tokens"), output_tokens=count("output_tokens"),
        input_text_tokens=count("input_token_details", "text_tokens"),
        input_audio_tokens=count("input_token_details", "audio_tokens"),
        input_cached_tokens=count("input_token_details", "cached_tokens"),
        output_text_tokens=count("output_token_details", "text_tokens"),
        output_audio_tokens=count("output_token_details", "audio_tokens"),
    )


def _tool(method: Callable[..., Any]) -> Callable[..., Any]:
    # A table entry that hands the call to the session's tool rules.
    return lambda session, *args: method(session.tools, *args)


class _Port:
    """The session as the tool rules see it (:class:`rtproto.policy.Conversation`)."""

    def __init__(self, session: Session):
        self._session = session

    def emit(self, event: Any, now_ms: float) -> Send:
        return self._session._emit(event, now_ms)

    def flush(self, now_ms: float) -> list[Output]:
        return self._session._flush(now_ms)

    def owe_followup(self) -> None:
        self._session._followup = True

    def first(self, what: str, key: str) -> bool:
        return self._session._first(what, key)

    def item(self, item_id: str) -> Any:
        return self._session._items.get(item_id)

    def running_response(self) -> str | None:
        slot = self._session._slot
        return slot.response_id if slot.state is SlotState.ACTIVE else None

    def response_open(self, response_id: str) -> bool:
        response = self._session._responses.get(response_id)
        return response is not None and not response.done


_Handler = Callable[[Session, Any, float], list[Output]]

_HANDLERS: dict[type, _Handler] = {
    SessionCreated: Session._on_session,
    SessionUpdated: Session._on_session,
    ConversationItemAdded: Session._on_item_added,
    ConversationItemCreated: Session._on_item_added,
    ConversationItemDone: Session._on_item_added,
    ConversationItemRetrieved: Session._on_item_retrieved,
    ConversationItemDeleted: Session._on_item_deleted,
    ConversationItemTruncated: Session._on_item_truncated,
    ConversationItemInputAudioTranscriptionDelta: Session._on_user_delta,
    ConversationItemInputAudioTranscriptionCompleted: Session._on_user_transcript,
    ConversationItemInputAudioTranscriptionFailed: Session._on_transcription_failed,
    InputAudioBufferSpeechStarted: Session._on_speech_started,
    InputAudioBufferSpeechStopped: Session._on_speech_stopped,
    ResponseCreated: Session._on_response_created,
    ResponseDone: Session._on_response_done,
    ResponseOutputItemAdded: Session._on_output_item,
    ResponseOutputItemDone: Session._on_output_item,
    ResponseOutputAudioDelta: Session._on_audio_delta,
    ResponseOutputAudioTranscriptDelta: Session._on_assistant_delta,
    ResponseOutputTextDelta: Session._on_assistant_delta,
    ResponseOutputAudioTranscriptDone: Session._on_assistant_done,
    ResponseOutputTextDone: Session._on_assistant_done,
    ResponseMcpCallArgumentsDone: _tool(ToolRules.on_mcp_arguments_done),
    McpListToolsFailed: _tool(ToolRules.on_tools_failed),
    RateLimitsUpdated: Session._on_rate_limits,
    InputAudioBufferTimeoutTriggered: Session._on_input_timeout,
    Error: Session._on_error,
}
for _cls in _STREAM_EVENTS:
    _HANDLERS.setdefault(_cls, Session._on_ignored)

_ITEM_HANDLERS: dict[type, Callable[..., list[Output]]] = {
    McpCall: _tool(ToolRules.see_mcp_call),
    McpApprovalRequest: _tool(ToolRules.see_approval_request),
    FunctionCall: _tool(ToolRules.see_function_call),
    McpListTools: _tool(ToolRules.see_tools),
    UserMessage: Session._see_user_message,
}

_SEND_CHECKS: dict[type, Callable[[Session, Any], None]] = {
    ResponseCreate: Session._check_response_create,
    ResponseCancel: Session._check_cancel,
    ConversationItemTruncate: Session._check_truncate,
    ConversationItemCreate: _tool(ToolRules.check_item_create),
}

_SEND_EFFECTS: dict[type, Callable[[Session, Any, float], None]] = {
    SessionUpdate: Session._on_sent_session_update,
    ResponseCreate: Session._on_sent_response_create,
    InputAudioBufferCommit: Session._on_sent_commit,
    ResponseCancel: Session._on_sent_cancel,
    ConversationItemTruncate: Session._on_sent_truncate,
    ConversationItemCreate: _tool(ToolRules.on_sent_item),
}

_LOCAL_HANDLERS: dict[str, Callable[[Session, _LocalFields, float], list[Output]]] = {
    "approval.answer": Session._local_approval,
    "playback.cleared": Session._local_playback,
    "function.result": Session._local_function,
    "text.input": Session._local_text,
    "tools.changed": Session._local_tools,
    "connection.resumed": Session._local_resumed,
}
