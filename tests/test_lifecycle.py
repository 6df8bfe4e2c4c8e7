"""The response slot (``rtproto.lifecycle``) tested as h11 tests its state machine, and the
session's real-server rules built on it (owed, refused, retried and expired requests, fatal
errors, cut-off calls, unknown item kinds, barge-in truncation per output format).

Slot tests try every (state, happening) pair against :data:`TRANSITIONS`; a property test
drives random sequences of ours and the server's happenings. Session tests are pure: real
decoded server events in, outputs checked; no socket, no clock.
"""

from __future__ import annotations

import base64
import copy
import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtproto import server_errors
from rtproto.actions import (
    CallFunction, ClearPlayback, EndConversation, ProtocolViolation, RequestUnanswered, Retrying, Send, ServerError,
    ToolCall, ToolResult, Truncated, TurnDone,
)
from rtproto.errors import LocalProtocolError
from rtproto.events import AudioPCM, AudioPCMA, AudioPCMU, ResponseCancel, decode_server, to_dict
from rtproto.lifecycle import TRANSITIONS, Happening, ResponseSlot, SlotState
from rtproto.session import REQUEST_TIMEOUT_MS, Session

H, S = Happening, SlotState
OURS = (H.SEND_CREATE, H.SEND_CANCEL)
SERVERS = (H.CREATED, H.DONE, H.REFUSED, H.EXPIRED)
RUNNING = (S.ACTIVE, S.CANCELLING)

# ---------------------------------------------------------------------------
# The slot


def slot_in(state: SlotState) -> ResponseSlot:
    """A slot reached the way the session reaches ``state``."""
    slot = ResponseSlot()
    if state is S.REQUESTED:
        slot.send(H.SEND_CREATE, 5.0)
    elif state in RUNNING:
        slot.server(H.CREATED, "resp_1")
        if state is S.CANCELLING:
            slot.send(H.SEND_CANCEL, 5.0)
    assert slot.state is state
    return slot


def shot(slot: ResponseSlot) -> tuple:
    return slot.state, slot.response_id, slot.requested_ms


def assert_sane(slot: ResponseSlot) -> None:
    """The running response's id exactly while one runs; the request's time exactly while requested."""
    assert (slot.response_id is not None) == (slot.state in RUNNING), shot(slot)
    assert (slot.requested_ms is not None) == (slot.state is S.REQUESTED), shot(slot)
    assert slot.idle == (slot.state is S.IDLE)


@pytest.mark.parametrize("happening", OURS, ids=lambda h: h.name)
@pytest.mark.parametrize("state", list(S), ids=lambda s: s.name)
def test_our_moves_follow_the_table_or_raise_before_anything_changes(state: SlotState, happening: Happening) -> None:
    slot = slot_in(state)
    before = shot(slot)
    if (state, happening) in TRANSITIONS:
        slot.check(happening)
        assert shot(slot) == before  # check() alone changes nothing
        slot.send(happening, 99.0)
        assert slot.state is TRANSITIONS[(state, happening)]
        if slot.state in RUNNING:
            assert slot.response_id == "resp_1"  # a cancel keeps the running response
        assert_sane(slot)
    else:
        for call in (lambda: slot.check(happening), lambda: slot.send(happening, 99.0)):
            with pytest.raises(LocalProtocolError, match=rf"^{happening.value} while the response slot is "
                                                         rf"{state.value}"):
                call()
            assert shot(slot) == before


def test_the_refusals_say_what_the_server_would_answer() -> None:
    with pytest.raises(LocalProtocolError, match="conversation_already_has_active_response"):
        slot_in(S.ACTIVE).check(H.SEND_CREATE)
    with pytest.raises(LocalProtocolError, match=r"active \('resp_1'\)"):
        slot_in(S.ACTIVE).check(H.SEND_CREATE)
    with pytest.raises(LocalProtocolError, match="awaits response.created"):
        slot_in(S.REQUESTED).check(H.SEND_CREATE)
    with pytest.raises(LocalProtocolError, match="no response in progress"):
        slot_in(S.IDLE).check(H.SEND_CANCEL)


def test_a_cancel_while_requested_keeps_the_time_of_the_request() -> None:
    slot = ResponseSlot()
    slot.send(H.SEND_CREATE, 100.0)
    slot.send(H.SEND_CANCEL, 9000.0)
    assert slot.state is S.REQUESTED
    assert slot.requested_ms == 100.0  # "the time our response.create was sent"


@pytest.mark.parametrize("happening", SERVERS, ids=lambda h: h.name)
@pytest.mark.parametrize("state", list(S), ids=lambda s: s.name)
def test_send_takes_only_our_happenings(state: SlotState, happening: Happening) -> None:
    slot = slot_in(state)
    before = shot(slot)
    with pytest.raises(LocalProtocolError):
        slot.send(happening, 1.0)
    assert shot(slot) == before


@pytest.mark.parametrize("named", ["running", "other", None])
@pytest.mark.parametrize("happening", SERVERS, ids=lambda h: h.name)
@pytest.mark.parametrize("state", list(S), ids=lambda s: s.name)
def test_server_happenings_never_raise_and_leave_a_sane_slot(state: SlotState, happening: Happening,
                                                            named: str | None) -> None:
    slot = slot_in(state)
    response_id = {"running": slot.response_id or "resp_1", "other": "resp_9", None: None}[named]
    if happening is H.CREATED and response_id is None:
        response_id = "resp_9"  # the session never passes a response.created without its id
    legal = (state, happening) in TRANSITIONS
    foreign_done = happening is H.DONE and slot.response_id not in (None, response_id)
    problem = slot.problem(happening, response_id)
    if legal and not foreign_done:
        assert problem is None
    else:
        assert isinstance(problem, str) and problem.startswith(happening.value)
    before = shot(slot)
    slot.server(happening, response_id)
    if happening is H.CREATED:
        assert (slot.state, slot.response_id) == (S.ACTIVE, response_id)  # the server's word on what runs wins
    elif foreign_done or not legal:
        assert shot(slot) == before
    else:
        assert slot.state is TRANSITIONS[(state, happening)]
    assert_sane(slot)


def test_every_state_has_a_way_back_to_idle_in_the_table() -> None:
    for state in S:
        seen, frontier = {state}, [state]
        while frontier:
            here = frontier.pop()
            for (source, _), target in TRANSITIONS.items():
                if source is here and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert S.IDLE in seen, state


STEPS = st.lists(st.tuples(st.sampled_from(list(H)), st.sampled_from(["resp_1", "resp_2", None])), max_size=40)


@settings(max_examples=400, deadline=None)
@given(steps=STEPS)
def test_random_happenings_never_wedge_the_slot(steps: list[tuple[Happening, str | None]]) -> None:
    slot = ResponseSlot()
    for now, (happening, response_id) in enumerate(steps):
        before = shot(slot)
        if happening in OURS:
            try:
                slot.send(happening, float(now))
            except LocalProtocolError:
                assert shot(slot) == before
        else:
            if happening is H.CREATED:
                response_id = response_id or "resp_3"
            slot.problem(happening, response_id)  # describes, never raises
            slot.server(happening, response_id)
        assert_sane(slot)
    # From wherever it stands, the done of the running response frees the slot ...
    done = copy.copy(slot)
    done.server(H.DONE, slot.response_id)
    assert done.idle, shot(slot)
    # ... and a request ends with its answer refused or its time up.
    if slot.state is S.REQUESTED:
        for ending in (H.REFUSED, H.EXPIRED):
            ended = copy.copy(slot)
            ended.server(ending)
            assert ended.idle
    # And the next request can always be sent once it is idle.
    done.send(H.SEND_CREATE, 1e6)
    assert done.state is S.REQUESTED


# ---------------------------------------------------------------------------
# The session: helpers

_ids = itertools.count(1)


def ev(type_: str, **fields):
    """A real decoded server event."""
    return decode_server(orjson.dumps({"type": type_, "event_id": f"event_{next(_ids)}", **fields}))


def created(rid: str, **response):
    return ev("response.created", response={"object": "realtime.response", "id": rid, "status": "in_progress",
                                            "output": [], **response})


def done(rid: str, status: str = "completed", output: list | None = None, details: dict | None = None):
    return ev("response.done", response={"object": "realtime.response", "id": rid, "status": status,
                                         "status_details": details, "output": output or []})


def failed(rid: str, code: str, message: str, kind: str = "invalid_request_error"):
    return done(rid, "failed", details={"type": "failed", "error": {"type": kind, "code": code, "message": message}})


def error(code: str | None, message: str, event_id: str | None, kind: str = "invalid_request_error"):
    return ev("error", error={"type": kind, "code": code, "message": message, "event_id": event_id, "param": None})


def audio(rid: str, item_id: str, nbytes: int, content_index: int = 0):
    return ev("response.output_audio.delta", response_id=rid, item_id=item_id, output_index=0,
              content_index=content_index, delta=base64.b64encode(bytes(nbytes)).decode())


def speech_started(ms: int = 1000):
    return ev("input_audio_buffer.speech_started", item_id="item_user", audio_start_ms=ms)


def feed(session: Session, *events, now_ms: float = 0.0) -> list:
    out = []
    for event in events:
        out += session.receive(event, now_ms)
    return out


def sends(outputs: list) -> list[dict]:
    """The client events among outputs, as dicts."""
    return [dict(to_dict(o.event)) for o in outputs if isinstance(o, Send)]


def kinds(outputs: list) -> list[str]:
    return [e["type"] for e in sends(outputs)]


def of(outputs: list, cls: type) -> list:
    return [o for o in outputs if isinstance(o, cls)]


def typed(session: Session, text: str = "What's the weather in Paris?", now_ms: float = 0.0) -> str:
    """Type a line; returns the event_id of the response.create it sent."""
    out = session.send_text(text, now_ms)
    assert kinds(out) == ["conversation.item.create", "response.create"]
    return sends(out)[-1]["event_id"]


ALREADY = "Conversation already has an active response in progress: resp_S. Wait until the response is finished."


# ---------------------------------------------------------------------------
# Owed, refused and unanswered requests


def test_create_refused_after_the_servers_own_response_started_is_sent_once_that_response_is_done() -> None:
    session = Session()
    create_id = typed(session)
    out = feed(session, created("resp_S"))  # the server started its own, just before our item was added
    out += feed(session, error(server_errors.ALREADY_ACTIVE, ALREADY, create_id))
    assert kinds(out) == [] and not of(out, ProtocolViolation)
    [shown] = of(out, ServerError)
    assert (shown.severity, shown.client_event_type) == ("benign", "response.create")
    assert session.busy and session.response_state is S.ACTIVE
    out = feed(session, done("resp_S"))
    assert kinds(out) == ["response.create"]  # the typed turn is now answered ...
    out = feed(session, created("resp_T"), done("resp_T"))
    assert kinds(out) == [] and not of(out, ProtocolViolation)  # ... exactly once
    assert not session.busy and session.response_state is S.IDLE


def test_create_refused_while_requested_is_sent_once_the_running_response_is_done() -> None:
    session = Session()
    create_id = typed(session)
    out = feed(session, error(server_errors.ALREADY_ACTIVE, ALREADY, create_id))
    assert kinds(out) == [] and session.busy
    assert session.response_state is S.ACTIVE  # something runs that we have not seen start
    out = feed(session, done("resp_S"))
    assert kinds(out) == ["response.create"]
    out = feed(session, created("resp_T"), done("resp_T"))
    assert kinds(out) == [] and not session.busy


def test_create_refused_while_requested_then_the_running_responses_created_arrives() -> None:
    session = Session()
    create_id = typed(session)
    feed(session, error(server_errors.ALREADY_ACTIVE, ALREADY, create_id))
    out = feed(session, created("resp_S"))  # the response that refused us announces itself
    assert not of(out, ProtocolViolation)  # it is the one we were told runs
    assert session.active_response_id == "resp_S"
    out = feed(session, done("resp_S"))
    assert kinds(out) == ["response.create"]  # it started before our item: the turn is still owed
    out = feed(session, created("resp_T"), done("resp_T"))
    assert kinds(out) == [] and not session.busy


def test_an_error_without_event_id_while_requested_ends_the_wait() -> None:
    session = Session()
    typed(session)
    assert session.response_state is S.REQUESTED and session.busy
    out = feed(session, error("invalid_value", "Something about the request was wrong.", None))
    [shown] = of(out, ServerError)
    assert shown.client_event_type == "response.create"
    assert kinds(out) == []  # not asked again: the error answered it
    assert session.response_state is S.IDLE and not session.busy and session.deadline_ms is None
    typed(session, "And in Oslo?")  # the next line is sent at once


def test_an_unanswered_create_is_given_up_at_its_deadline_and_not_before() -> None:
    session = Session()
    typed(session, now_ms=100.0)
    assert session.deadline_ms == 100.0 + REQUEST_TIMEOUT_MS
    assert session.tick(100.0 + REQUEST_TIMEOUT_MS - 1) == []
    assert session.response_state is S.REQUESTED and session.busy
    out = session.tick(100.0 + REQUEST_TIMEOUT_MS)
    assert out == [RequestUnanswered(REQUEST_TIMEOUT_MS)]
    assert session.response_state is S.IDLE and not session.busy and session.deadline_ms is None
    assert session.tick(1e9) == []
    typed(session, "Still there?", now_ms=100.0 + REQUEST_TIMEOUT_MS)


def test_a_cancel_while_requested_does_not_move_the_deadline() -> None:
    session = Session()
    typed(session, now_ms=0.0)
    session.send(ResponseCancel(), now_ms=9000.0)  # legal: the server cancels it once it exists
    assert session.deadline_ms == REQUEST_TIMEOUT_MS
    assert session.tick(REQUEST_TIMEOUT_MS) == [RequestUnanswered(REQUEST_TIMEOUT_MS)]


# ---------------------------------------------------------------------------
# Transient and fatal errors

RATE_LIMITED = "Rate limit reached for gpt-realtime. Please try again in 1.5s."


@pytest.mark.parametrize("where", ["response.done", "error"])
def test_a_rate_limited_request_is_retried_after_the_wait_the_server_asks_for(where: str) -> None:
    session = Session()
    create_id = typed(session, now_ms=0.0)
    if where == "response.done":
        feed(session, created("resp_1"), now_ms=10.0)
        out = feed(session, failed("resp_1", "rate_limit_exceeded", RATE_LIMITED), now_ms=200.0)
        [turn] = of(out, TurnDone)
        assert turn.stats.error == f"invalid_request_error rate_limit_exceeded: {RATE_LIMITED}"
    else:
        out = feed(session, error("rate_limit_exceeded", RATE_LIMITED, create_id), now_ms=200.0)
        assert of(out, ServerError)[0].severity == "transient"
    assert of(out, Retrying) == [Retrying("rate_limit_exceeded", 1500.0, 1)]
    assert kinds(out) == []
    assert session.busy and session.deadline_ms == 200.0 + 1500.0
    # Nothing sends it early: not the clock, not other events.
    assert session.tick(1699.0) == []
    assert kinds(feed(session, ev("rate_limits.updated", rate_limits=[]), now_ms=1699.0)) == []
    out = session.tick(1700.0)
    assert kinds(out) == ["response.create"]
    out = feed(session, created("resp_2"), done("resp_2"), now_ms=1800.0)
    assert kinds(out) == [] and not session.busy


def test_retries_stop_after_max_retries_in_a_row_and_start_afresh_after_a_success() -> None:
    session = Session()
    typed(session)
    now = 0.0
    for attempt in range(1, server_errors.MAX_RETRIES + 2):
        feed(session, created(f"resp_{attempt}"), now_ms=now)
        out = feed(session, failed(f"resp_{attempt}", "rate_limit_exceeded", RATE_LIMITED), now_ms=now)
        if attempt <= server_errors.MAX_RETRIES:
            assert of(out, Retrying) == [Retrying("rate_limit_exceeded", 1500.0, attempt)]
            now += 1500.0
            assert kinds(session.tick(now)) == ["response.create"]
        else:
            assert of(out, Retrying) == [] and kinds(out) == []
            assert not session.busy and session.deadline_ms is None
            assert session.tick(now + 60_000) == []
    typed(session, "Try again?", now_ms=now)
    out = feed(session, created("resp_ok"), done("resp_ok"), now_ms=now)
    typed(session, "Once more?", now_ms=now)
    feed(session, created("resp_x"), now_ms=now)
    out = feed(session, failed("resp_x", "rate_limit_exceeded", RATE_LIMITED), now_ms=now)
    assert of(out, Retrying) == [Retrying("rate_limit_exceeded", 1500.0, 1)]


QUOTA = "You exceeded your current quota, please check your plan and billing details."


def test_insufficient_quota_in_an_error_ends_the_conversation_with_the_message() -> None:
    session = Session()
    create_id = typed(session)
    out = feed(session, error("insufficient_quota", QUOTA, create_id, kind="insufficient_quota"))
    [end] = of(out, EndConversation)
    assert QUOTA in end.message and end.message.startswith("insufficient_quota")
    assert of(out, ServerError)[0].severity == "fatal"
    assert kinds(out) == [] and not of(out, Retrying)


def test_insufficient_quota_in_a_failed_response_ends_the_conversation_with_the_message() -> None:
    session = Session()
    typed(session)
    feed(session, created("resp_1"))
    out = feed(session, failed("resp_1", "insufficient_quota", QUOTA))
    [turn] = of(out, TurnDone)
    assert turn.stats.status == "failed" and turn.stats.error_code == "insufficient_quota"
    assert QUOTA in turn.stats.error
    [end] = of(out, EndConversation)
    assert QUOTA in end.message and "insufficient_quota" in end.message
    assert kinds(out) == [] and not of(out, Retrying)


# ---------------------------------------------------------------------------
# Items the model does not know, and function calls cut off


REASONING = {"id": "rs_1", "object": "realtime.item", "type": "reasoning", "summary": [], "content": None}


def weather_call(status: str, arguments: str, call_id: str = "call_1", item_id: str = "item_fc1") -> dict:
    return {"id": item_id, "object": "realtime.item", "type": "function_call", "status": status,
            "name": "get_weather", "call_id": call_id, "arguments": arguments}


def test_an_unknown_item_kind_never_wedges_the_response_or_its_follow_up() -> None:
    session = Session(function_tools=["get_weather"])
    typed(session)
    call = weather_call("completed", '{"city":"Paris"}')
    out = feed(session, created("resp_1"),
               ev("response.output_item.added", response_id="resp_1", output_index=0, item=REASONING),
               ev("response.output_item.done", response_id="resp_1", output_index=0, item=REASONING),
               ev("response.output_item.done", response_id="resp_1", output_index=1, item=call),
               done("resp_1", output=[REASONING, call]))
    assert not of(out, ProtocolViolation)
    assert session.response_state is S.IDLE
    assert of(out, CallFunction) == [CallFunction("call_1", "get_weather", '{"city":"Paris"}')]
    out = session.function_result("call_1", '{"temperature": 18}')
    assert kinds(out) == ["conversation.item.create", "response.create"]
    out = feed(session, created("resp_2"), done("resp_2", output=[REASONING]))
    assert kinds(out) == [] and not of(out, ProtocolViolation) and not session.busy


def test_a_function_call_cut_off_by_barge_in_is_shown_never_run_never_answered() -> None:
    session = Session(function_tools=["get_weather"])
    typed(session)
    partial = '{"city": "Par'
    out = feed(session, created("resp_1"),
               ev("response.output_item.added", response_id="resp_1", output_index=0,
                  item=weather_call("in_progress", "")),
               ev("response.function_call_arguments.delta", response_id="resp_1", item_id="item_fc1",
                  output_index=0, call_id="call_1", delta=partial),
               speech_started(),
               ev("response.output_item.done", response_id="resp_1", output_index=0,
                  item=weather_call("incomplete", partial)),
               ev("conversation.item.done", item=weather_call("incomplete", partial)),
               done("resp_1", "cancelled", [weather_call("incomplete", partial)],
                    {"type": "cancelled", "reason": "turn_detected"}))
    assert of(out, ToolCall) == [ToolCall("function", "item_fc1", "call_1", None, "get_weather", partial)]
    [result] = of(out, ToolResult)
    assert result.output is None and result.error.startswith("not run")
    assert not of(out, CallFunction) and kinds(out) == []
    assert not session.busy and session.pending_calls == {}
    with pytest.raises(LocalProtocolError):
        session.function_result("call_1", "{}")


def test_a_completed_call_in_a_cancelled_response_is_not_run() -> None:
    session = Session(function_tools=["get_weather"])
    typed(session)
    call = weather_call("completed", '{"city":"Paris"}')
    out = feed(session, created("resp_1"),
               ev("response.output_item.done", response_id="resp_1", output_index=0, item=call))
    assert not of(out, CallFunction)  # held until its response is done
    out = feed(session, done("resp_1", "cancelled", [call], {"type": "cancelled", "reason": "turn_detected"}))
    assert not of(out, CallFunction) and kinds(out) == []
    assert of(out, ToolResult)[0].error == "not run: response cancelled"
    assert not session.busy


# ---------------------------------------------------------------------------
# Barge-in: clearing and truncation


def session_with_audio(nbytes: int, response_format: dict | None = None, session_format: dict | None = None,
                       interrupt_response: bool = True) -> Session:
    session = Session()
    config: dict = {"type": "realtime", "audio": {
        "input": {"turn_detection": {"type": "server_vad", "interrupt_response": interrupt_response}}}}
    if session_format is not None:
        config["audio"]["output"] = {"format": session_format}
    feed(session, ev("session.updated", session=config))
    extra = {"audio": {"output": {"format": response_format}}} if response_format else {}
    feed(session, created("resp_1", **extra), audio("resp_1", "item_a1", nbytes))
    return session


def test_barge_in_without_interrupt_response_clears_and_truncates_but_never_cancels() -> None:
    session = session_with_audio(4800, interrupt_response=False)  # 100 ms of PCM16 at 24 kHz
    out = feed(session, speech_started())
    assert of(out, ClearPlayback) == [ClearPlayback("item_a1", 0)]
    assert kinds(out) == []  # no response.cancel: the response goes on
    out = session.playback_cleared("item_a1", 0, 40.0)
    assert kinds(out) == ["conversation.item.truncate"]
    assert session.response_state is S.ACTIVE


PCM24 = {"type": "audio/pcm", "rate": 24000}
PCMU, PCMA = {"type": "audio/pcmu"}, {"type": "audio/pcma"}


@pytest.mark.parametrize("where", ["response", "session"])
@pytest.mark.parametrize(("fmt", "cls", "nbytes", "played_ms", "end_ms"), [
    (PCM24, AudioPCM, 4800, 60.7, 60),  # 48 bytes per ms: 100 ms received
    (PCM24, AudioPCM, 4800, 250.0, 100),  # never past what was received
    (PCMU, AudioPCMU, 1600, 150.2, 150),  # 8 bytes per ms: 200 ms received (as PCM16 it would be 33 ms)
    (PCMU, AudioPCMU, 1600, 900.0, 200),
    (PCMA, AudioPCMA, 800, 99.9, 99),
    (PCMA, AudioPCMA, 800, 500.0, 100),
], ids=["pcm", "pcm-past-end", "pcmu", "pcmu-past-end", "pcma", "pcma-past-end"])
def test_barge_in_truncates_at_what_was_played_in_the_parts_own_format(
        where: str, fmt: dict, cls: type, nbytes: int, played_ms: float, end_ms: int) -> None:
    if where == "response":  # the session says PCM16; this response says otherwise
        session = session_with_audio(nbytes, response_format=fmt, session_format=PCM24)
    else:
        session = session_with_audio(nbytes, session_format=fmt)
    assert isinstance(session.output_format("item_a1", 0), cls)
    out = feed(session, speech_started())
    assert of(out, ClearPlayback) == [ClearPlayback("item_a1", 0)]
    out = session.playback_cleared("item_a1", 0, played_ms)
    [truncate] = sends(out)
    assert truncate["type"] == "conversation.item.truncate" and truncate["audio_end_ms"] == end_ms
    assert of(out, Truncated) == [Truncated("item_a1", 0, end_ms)]


def test_a_refused_truncate_is_undone_so_the_item_can_be_truncated_again() -> None:
    session = session_with_audio(4800)
    feed(session, speech_started())
    out = session.playback_cleared("item_a1", 0, 40.0)
    truncate_id = sends(out)[0]["event_id"]
    out = feed(session, error("conversation_item_truncate_invalid", "Audio content end is invalid.", truncate_id))
    assert of(out, ServerError)[0].client_event_type == "conversation.item.truncate"
    assert session.response_state is S.ACTIVE and kinds(out) == []  # the slot is not touched
    assert session.audio_played_ms[("item_a1", 0)] == 40.0  # what was played stays a fact
    out = session.playback_cleared("item_a1", 0, 45.0)  # the next barge-in report
    assert [(e["type"], e["audio_end_ms"]) for e in sends(out)] == [("conversation.item.truncate", 45)]


def test_a_confirmed_truncate_is_never_repeated() -> None:
    session = session_with_audio(4800)
    feed(session, speech_started())
    session.playback_cleared("item_a1", 0, 40.0)
    feed(session, ev("conversation.item.truncated", item_id="item_a1", content_index=0, audio_end_ms=40))
    assert session.playback_cleared("item_a1", 0, 45.0) == []


@pytest.mark.parametrize("bad", [{"type": "audio/pcm", "rate": 0}, {"type": "audio/pcm", "rate": 10**9},
                                 {"type": "audio/opus"}], ids=["rate-0", "rate-1e9", "opus"])
def test_an_unplayable_session_format_is_refused_and_the_previous_one_kept(bad: dict) -> None:
    session = Session()
    feed(session, ev("session.updated", session={"type": "realtime", "audio": {"output": {"format": PCMU}}}))
    out = feed(session, ev("session.updated", session={"type": "realtime", "audio": {"output": {"format": bad}}}))
    [violation] = of(out, ProtocolViolation)
    assert "cannot play" in violation.message and "keeping the previous one" in violation.message
    feed(session, created("resp_1"), audio("resp_1", "item_a1", 800))
    assert isinstance(session.output_format("item_a1", 0), AudioPCMU)
    assert session.audio_received_ms[("item_a1", 0)] == 100.0
