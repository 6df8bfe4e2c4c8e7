"""The conversation's response slot: a named state machine, h11-style.

Theory of operation
===================

A Realtime conversation runs at most one response at a time. The slot holding
it is in one of four states:

``IDLE``
    nothing runs and nothing was asked for;
``REQUESTED``
    our ``response.create`` was sent and its ``response.created`` (or the error
    that refuses it) has not arrived;
``ACTIVE``
    a response runs (:attr:`ResponseSlot.response_id`), ours or one the server
    started by itself (server VAD);
``CANCELLING``
    we sent ``response.cancel`` for the active response; its ``response.done``
    has not arrived.

What moves the slot is named by :class:`Happening`. Every legal move is one row
of :data:`TRANSITIONS`. A move of ours (``SEND_CREATE``, ``SEND_CANCEL``) that is
not in the table raises :class:`~rtproto.errors.LocalProtocolError` before
anything changes. A server event that is not in the table is the server's
misbehaviour: :meth:`ResponseSlot.problem` describes it, and
:meth:`ResponseSlot.server` re-synchronises on what the server says (its word on which response runs wins), so the slot can
never wedge. ``REFUSED`` (an error that answers our ``response.create``) and
``EXPIRED`` (the edge's clock says no answer came in time) both end a request.
The module knows no clock, socket or event class: the session core feeds it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rtproto.errors import LocalProtocolError

__all__ = ["Happening", "ResponseSlot", "SlotState", "TRANSITIONS"]


class SlotState(enum.Enum):
    """Where the conversation's one response slot stands."""

    IDLE = "idle"
    REQUESTED = "requested"
    ACTIVE = "active"
    CANCELLING = "cancelling"


class Happening(enum.Enum):
    """What moves the slot: our sends, the server's events, and the edge's clock."""

    SEND_CREATE = "response.create"
    SEND_CANCEL = "response.cancel"
    CREATED = "response.created"
    DONE = "response.done"
    REFUSED = "response.create refused"
    EXPIRED = "response.create unanswered"


_S, _H = SlotState, Happening

TRANSITIONS: dict[tuple[SlotState, Happening], SlotState] = {
    (_S.IDLE, _H.SEND_CREATE): _S.REQUESTED,
    (_S.IDLE, _H.CREATED): _S.ACTIVE,  # the server started a response by itself
    (_S.REQUESTED, _H.CREATED): _S.ACTIVE,
    (_S.REQUESTED, _H.REFUSED): _S.IDLE,
    (_S.REQUESTED, _H.EXPIRED): _S.IDLE,
    (_S.REQUESTED, _H.DONE): _S.IDLE,  # its response.created was lost: the request was answered
    (_S.REQUESTED, _H.SEND_CANCEL): _S.REQUESTED,  # the server cancels it once it exists
    (_S.ACTIVE, _H.SEND_CANCEL): _S.CANCELLING,
    (_S.ACTIVE, _H.DONE): _S.IDLE,
    (_S.CANCELLING, _H.DONE): _S.IDLE,
}
"""Every legal move of the slot: ``(state, happening) -> next state``."""

_OURS = frozenset({_H.SEND_CREATE, _H.SEND_CANCEL})
# Why a move of ours is illegal, by the slot's state: what the server would say to it.
_REFUSALS: dict[tuple[SlotState, Happening], str] = {
    (_S.ACTIVE, _H.SEND_CREATE): "the server would answer conversation_already_has_active_response",
    (_S.CANCELLING, _H.SEND_CREATE): "the server would answer conversation_already_has_active_response",
    (_S.REQUESTED, _H.SEND_CREATE): "an earlier response.create awaits response.created",
    (_S.IDLE, _H.SEND_CANCEL): "there is no response in progress",
    (_S.CANCELLING, _H.SEND_CANCEL): "it is being cancelled already",
}


@dataclass(slots=True)
class ResponseSlot:
    """The response slot of one conversation (see the module docstring).

    ``response_id`` is the running response's id in ``ACTIVE`` and ``CANCELLING``;
    ``requested_ms`` the time our ``response.create`` was sent, in ``REQUESTED``.
    """

    state: SlotState = SlotState.IDLE
    response_id: str | None = None
    requested_ms: float | None = None

    @property
    def adopting(self) -> bool:
        """A response runs that we know of only because the server refused our request for one."""
        return self.state is SlotState.ACTIVE and self.response_id is None

    @property
    def idle(self) -> bool:
        """Nothing runs and nothing was asked for."""
        return self.state is SlotState.IDLE

    def check(self, happening: Happening) -> None:
        """Raise :class:`LocalProtocolError` if our ``happening`` is illegal now."""
        if happening not in _OURS:
            raise LocalProtocolError(f"{happening.value} is the server's move, not ours")
        if (self.state, happening) not in TRANSITIONS:
            why = _REFUSALS[(self.state, happening)]
            raise LocalProtocolError(f"{happening.value} while the response slot is {self._describe()}: {why}")

    def send(self, happening: Happening, now_ms: float) -> None:
        """Our send moves the slot (checked first: an illegal one raises and changes nothing)."""
        self.check(happening)
        self.state = TRANSITIONS[(self.state, happening)]
        if happening is Happening.SEND_CREATE:
            self.requested_ms = now_ms

    def problem(self, happening: Happening, response_id: str | None = None) -> str | None:
        """What is wrong with the server's ``happening`` now, or None when it is a legal move."""
        if self.adopting and happening is Happening.CREATED:
            return None  # the running response we knew of only by a refusal shows itself
        if (self.state, happening) not in TRANSITIONS:
            named = f" for {response_id!r}" if response_id else ""
            return f"{happening.value}{named} while the response slot is {self._describe()}"
        if happening is Happening.DONE and self.response_id not in (None, response_id):
            return f"{happening.value} for {response_id!r} while {self.response_id!r} runs"
        return None

    def server(self, happening: Happening, response_id: str | None = None) -> None:
        """The server moved the slot. Whatever it says wins, so the slot never wedges: a
        ``response.created`` makes its response the running one, and a ``response.done``
        frees the slot unless another response runs."""
        target = TRANSITIONS.get((self.state, happening))
        if happening is Happening.CREATED:
            self._enter(SlotState.ACTIVE, response_id)
        elif happening is Happening.DONE and self.response_id not in (None, response_id):
            return  # the done of some other response
        elif target is not None:
            self._enter(target, self.response_id)

    def _enter(self, state: SlotState, response_id: str | None) -> None:
        self.state = state
        self.response_id = response_id if state in (SlotState.ACTIVE, SlotState.CANCELLING) else None
        if state is not SlotState.REQUESTED:
            self.requested_ms = None

    def _describe(self) -> str:
        running = f" ({self.response_id!r})" if self.response_id else ""
        return f"{self.state.value}{running}"
