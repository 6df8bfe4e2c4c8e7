"""The sans-I/O session core, driven by real decoded server events and direct calls."""

from __future__ import annotations

import base64
import json
import math

import orjson
import pytest

from rtproto.actions import (
    ApprovalAnswered, ApprovalRequested, AskApproval, CallFunction, ClearPlayback, FunctionApproval, PolicyViolation,
    ProtocolViolation,
    ResponseStarted, Send, ServerError, SpeechStarted, SpeechStopped, TokenUsage, ToolCall, ToolResult, ToolsListed,
    TranscriptDelta, TranscriptDone, TranscriptionFailed, Truncated, TurnDone,
)
from rtproto.errors import LocalProtocolError, RemoteProtocolError
from rtproto.events import (
    AudioConfig, AudioOutput, AudioPCM, AudioPCMA, AudioPCMU, ConversationItemCreate, ConversationItemTruncate,
    FunctionCallOutput, InputAudioBufferAppend, InputAudioBufferCommit, McpApprovalResponse, RealtimeSession,
    ResponseCancel, ResponseCreate, SessionUpdate, UnknownEvent, decode_server, to_dict,
)
from rtproto.policy import TIMEOUT_REASON, ToolPolicy
from rtproto.session import Session, audio_bytes, bytes_per_ms

# ---------------------------------------------------------------------------
# Helpers: real server events through the real decoder, and views of outputs


class Server:
    """Makes decoded server events with fresh event ids."""

    def __init__(self):
        self.count = 0

    def __call__(self, type_: str, **fields):
        self.count += 1
        return decode_server(orjson.dumps({"type": type_, "event_id": f"event_{self.count}", **fields}))

    def created(self, rid, **response):
        return self("response.created", response={"id": rid, "status": "in_progress", **response})

    def done(self, rid, status="completed", **response):
        return self("response.done", response={"id": rid, "status": status, **response})

    def output_item(self, rid, item, done=True, index=0):
        kind = "response.output_item.done" if done else "response.output_item.added"
        return self(kind, response_id=rid, output_index=index, item=item)

    def item_done(self, item, **fields):
        return self("conversation.item.done", item=item, **fields)

    def item_added(self, item, **fields):
        return self("conversation.item.added", item=item, **fields)

    def audio(self, rid, item_id, nbytes, content_index=0):
        delta = base64.b64encode(bytes(nbytes)).decode()
        return self("response.output_audio.delta", response_id=rid, item_id=item_id, output_index=0,
                    content_index=content_index, delta=delta)

    def speech_started(self, item_id="item_u2", ms=1000):
        return self("input_audio_buffer.speech_started", item_id=item_id, audio_start_ms=ms)


@pytest.fixture
def server():
    return Server()


def feed(session, *events, now_ms=0.0):
    out = []
    for event in events:
        out += session.receive(event, now_ms)
    return out


def sent(outputs):
    """The client events among outputs, as dicts without event_id."""
    result = []
    for output in outputs:
        if isinstance(output, Send):
            event = dict(to_dict(output.event))
            event.pop("event_id", None)
            result.append(event)
    return result


def sent_types(outputs):
    return [event["type"] for event in sent(outputs)]


def of(outputs, cls):
    return [output for output in outputs if isinstance(output, cls)]


def snapshot(session):
    """The public state, for before/after comparisons."""
    return {
        "items": [to_dict(item) for item in session.items],
        "active": session.active_response_id,
        "approvals": session.pending_approvals,
        "calls": session.pending_calls,
        "received": session.audio_received_ms,
        "played": session.audio_played_ms,
        "transcripts": session.transcripts,
        "usage": session.usage,
        "turns": session.turns,
    }


def assert_refused(session, call, match):
    """call() raises LocalProtocolError and leaves the public state alone."""
    before = snapshot(session)
    with pytest.raises(LocalProtocolError, match=match):
        call()
    assert snapshot(session) == before


ALLOW_SEARCH = ToolPolicy(allow={"search", "create_repo"})  # the MCP tools these tests call


def mcp_call(item_id="mcp_1", name="search", output=None, error=None, arguments='{"q":"x"}', label="docs"):
    item = {"type": "mcp_call", "id": item_id, "server_label": label, "name": name, "arguments": arguments}
    if output is not None:
        item["output"] = output
    if error is not None:
        item["error"] = error
    return item


def approval_request(item_id="apr_1", name="create_repo"):
    return {"type": "mcp_approval_request", "id": item_id, "server_label": "gh", "name": name, "arguments": "{}"}


def function_call(call_id="call_1", name="get_weather", item_id="fc_1", arguments='{"city":"Oslo"}'):
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments}


def assistant_item(item_id="msg_a1"):
    return {"type": "message", "role": "assistant", "id": item_id, "content": [{"type": "output_audio"}]}


def user_item(item_id="msg_u1", text=None):
    content = [{"type": "input_text", "text": text}] if text is not None else [{"type": "input_audio"}]
    return {"type": "message", "role": "user", "id": item_id, "content": content}


def speaking(session, server, rid="resp_1", item_id="msg_a1", nbytes=48000):
    """A response in progress whose assistant item has received ``nbytes`` of audio."""
    feed(session, server.created(rid), server.output_item(rid, assistant_item(item_id), done=False),
         server.audio(rid, item_id, nbytes))


# ---------------------------------------------------------------------------
# Audio arithmetic


@pytest.mark.parametrize("size", [*range(0, 40), 4799, 4800, 4801, 96001])
def test_audio_bytes_agrees_with_decoding(size):
    data = bytes(range(256)) * (size // 256 + 1)
    encoded = base64.b64encode(data[:size]).decode()
    assert audio_bytes(encoded) == len(base64.b64decode(encoded)) == size
    assert audio_bytes(encoded.rstrip("=")) == size  # unpadded base64 too


@pytest.mark.parametrize(("audio_format", "expected"), [
    (None, 48.0), (AudioPCM(), 48.0), (AudioPCM(type="audio/pcm", rate=24000), 48.0),
    (AudioPCM(type="audio/pcm", rate=16000), 32.0), (AudioPCMU(type="audio/pcmu"), 8.0),
    (AudioPCMA(type="audio/pcma"), 8.0),
])
def test_bytes_per_ms(audio_format, expected):
    assert bytes_per_ms(audio_format) == expected


def test_pcm16_audio_ms_by_default(server):
    session = Session()
    speaking(session, server, nbytes=4800)
    feed(session, server.audio("resp_1", "msg_a1", 2400), server.audio("resp_1", "msg_a1", 1))
    assert session.audio_received_ms == {("msg_a1", 0): (4800 + 2400 + 1) / 48}


def test_pcmu_format_learned_from_session_updated(server):
    session = Session()
    feed(session, server("session.updated", session={
        "type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}))
    speaking(session, server, nbytes=800)
    assert session.audio_received_ms == {("msg_a1", 0): 100.0}


def test_format_of_session_created_then_overridden_per_response(server):
    session = Session()
    feed(session, server("session.created", session={
        "type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}))
    feed(session, server.created("resp_1", audio={"output": {"format": {"type": "audio/pcma"}}}),
         server.audio("resp_1", "msg_a1", 800), server.done("resp_1"),
         server.created("resp_2"), server.audio("resp_2", "msg_a2", 800))
    assert session.audio_received_ms == {("msg_a1", 0): 100.0, ("msg_a2", 0): 800 / 48}


def test_transcription_session_leaves_the_format_alone(server):
    session = Session()
    feed(session, server("session.created", session={"type": "transcription"}))
    speaking(session, server, nbytes=480)
    assert session.audio_received_ms == {("msg_a1", 0): 10.0}


# ---------------------------------------------------------------------------
# Sending, event ids, responses


def test_start_sends_session_update_with_first_event_id():
    session = Session()
    config = RealtimeSession(audio=AudioConfig(output=AudioOutput(voice="marin")))
    out = session.start(config)
    assert out == [Send(SessionUpdate(session=config, event_id="evt_1"))]
    assert Session().start() == []


def test_event_ids_count_every_sent_event_and_keep_given_ones():
    session = Session()
    first = session.send(InputAudioBufferAppend(audio="AAAA"))[0].event
    own = session.send(InputAudioBufferCommit(event_id="mine"))[0].event
    third = session.send(ResponseCreate())[0].event
    assert (first.event_id, own.event_id, third.event_id) == ("evt_1", "mine", "evt_3")


def test_refused_calls_consume_no_event_id(server):
    session = Session()
    feed(session, server.created("resp_1"))
    with pytest.raises(LocalProtocolError):
        session.send(ResponseCreate())
    assert session.send(InputAudioBufferCommit())[0].event.event_id == "evt_1"


def test_unknown_events_pass_through(server):
    session = Session()
    unknown = UnknownEvent(type="vendor.thing", raw={"type": "vendor.thing", "x": 1})
    assert session.send(unknown) == [Send(unknown)]
    assert session.receive(UnknownEvent(type="vendor.news", raw={"type": "vendor.news"})) == []


def test_send_rejects_non_events():
    with pytest.raises(LocalProtocolError, match="client event"):
        Session().send({"type": "response.create"})


def test_response_create_while_a_response_is_active_is_refused(server):
    session = Session()
    feed(session, server.created("resp_1"))
    assert_refused(session, lambda: session.send(ResponseCreate()), "conversation_already_has_active_response")
    feed(session, server.done("resp_1"))
    assert sent_types(session.send(ResponseCreate())) == ["response.create"]


def test_response_create_while_one_is_requested_is_refused(server):
    session = Session()
    session.send(ResponseCreate())
    assert_refused(session, lambda: session.send(ResponseCreate()), "awaits response.created")
    out = feed(session, server.created("resp_1"))
    assert out == [ResponseStarted("resp_1")] and session.active_response_id == "resp_1"


def test_error_for_our_response_create_is_matched_and_ends_the_request(server):
    session = Session()
    request = session.send(ResponseCreate())[0].event
    out = feed(session, server("error", error={
        "type": "invalid_request_error", "code": "invalid_value",
        "message": "bad", "param": "response.tools", "event_id": request.event_id}))
    assert out == [ServerError("invalid_value", "bad", "invalid_request_error", "response.tools", "response.create")]
    assert sent_types(session.send(ResponseCreate())) == ["response.create"]  # no longer requested


def test_error_names_the_client_event_type_or_none(server):
    session = Session()
    commit = session.send(InputAudioBufferCommit())[0].event
    out = feed(session, server("error", error={"type": "invalid_request_error", "message": "empty buffer",
                                                "code": "input_audio_buffer_commit_empty", "event_id": commit.event_id}),
               server("error", error={"type": "server_error", "message": "oops", "event_id": "evt_999"}))
    assert [o.client_event_type for o in out] == ["input_audio_buffer.commit", None]
    assert out[1] == ServerError(None, "oops", "server_error", None, None, "transient")


def test_response_cancel_needs_a_response(server):
    session = Session()
    assert_refused(session, lambda: session.send(ResponseCancel()), "no response in progress")
    feed(session, server.created("resp_1"))
    assert_refused(session, lambda: session.send(ResponseCancel(response_id="resp_0")), "unknown")
    assert sent(session.send(ResponseCancel(response_id="resp_1"))) == [
        {"type": "response.cancel", "response_id": "resp_1"}]


# ---------------------------------------------------------------------------
# The follow-up response.create after MCP calls


def test_mcp_call_in_a_response_gives_one_response_create_at_its_done(server):
    session = Session(policy=ALLOW_SEARCH)
    feed(session, server.created("resp_1"))
    during = feed(session, server.output_item("resp_1", mcp_call(arguments=""), done=False),
                  server("response.mcp_call_arguments.done", response_id="resp_1", item_id="mcp_1", output_index=0,
                         arguments='{"q":"x"}'),
                  server.output_item("resp_1", mcp_call(output="42")),
                  server.item_done(mcp_call(output="42")))
    assert sent(during) == []
    assert of(during, ToolCall) == [ToolCall("mcp", "mcp_1", None, "docs", "search", '{"q":"x"}')]
    assert of(during, ToolResult) == [ToolResult("mcp", "mcp_1", None, "search", "42", None)]
    after = feed(session, server.done("resp_1", output=[mcp_call(output="42")]))
    assert sent(after) == [{"type": "response.create"}]
    assert isinstance(after[0], TurnDone)  # the turn is reported, then the follow-up is sent
    assert feed(session, server.item_done(mcp_call(output="42"))) == []  # a late repeat changes nothing


def test_several_mcp_calls_in_one_response_give_one_response_create(server):
    session = Session(policy=ALLOW_SEARCH)
    out = feed(session, server.created("resp_1"),
               server.output_item("resp_1", mcp_call("mcp_1", output="a")),
               server.output_item("resp_1", mcp_call("mcp_2", error={"type": "tool_execution_error", "message": "no"})),
               server.item_done(mcp_call("mcp_3", output="c")),
               server.done("resp_1"))
    assert sent_types(out) == ["response.create"]
    assert len(of(out, ToolResult)) == 3


def test_mcp_call_completed_while_idle_asks_at_once(server):
    session = Session(policy=ALLOW_SEARCH)
    feed(session, server.created("resp_1"), server.output_item("resp_1", mcp_call(), done=False), server.done("resp_1"))
    out = feed(session, server.item_done(mcp_call(output="late")))
    assert sent_types(out) == ["response.create"]


def test_mcp_call_without_output_or_error_owes_nothing(server):
    session = Session(policy=ALLOW_SEARCH)
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", mcp_call()),
               server.item_done(mcp_call()), server.done("resp_1"))
    assert sent(out) == [] and of(out, ToolResult) == []


def test_mcp_error_is_reported_as_text(server):
    session = Session(policy=ALLOW_SEARCH)
    error = {"type": "http_error", "code": 500, "message": "boom"}
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", mcp_call(error=error)),
               server.done("resp_1"))
    assert of(out, ToolResult) == [ToolResult("mcp", "mcp_1", None, "search", None, "http_error 500: boom")]
    assert sent_types(out) == ["response.create"]


def test_no_duplicate_when_the_server_goes_on_by_itself_while_a_person_decides(server):
    session = Session(policy=ToolPolicy(allow={"search"}, ask={"create_repo"}))
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", mcp_call(output="ok")),
               server.output_item("resp_1", approval_request()), server.done("resp_1"))
    assert sent(out) == []  # the person has not answered yet
    out = feed(session, server.created("resp_2"), server.done("resp_2"))
    assert sent(out) == []  # the server went on by itself: the debt of the MCP call is gone
    out = session.answer_approval("apr_1", True)
    assert sent_types(out) == ["conversation.item.create", "response.create"]


def test_our_own_response_keeps_a_debt_made_after_we_asked(server):
    session = Session(function_tools={"get_weather"})
    feed(session, server.created("resp_1"), server.output_item("resp_1", function_call()), server.done("resp_1"))
    session.function_result("call_1", "{}")  # sends the output and asks for a response
    session.send_text("and tomorrow?")  # owes another one, after ours
    out = feed(session, server.created("resp_2"), server.done("resp_2"))
    assert sent_types(out) == ["response.create"]


# ---------------------------------------------------------------------------
# Approvals


def approval_responses(outputs):
    return [event["item"] for event in sent(outputs) if event["type"] == "conversation.item.create"]


def test_allowed_tool_is_approved_by_policy_and_the_response_create_waits(server):
    session = Session(policy=ToolPolicy(allow={"create_repo"}))
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", approval_request(), done=False))
    assert approval_responses(out) == [{"type": "mcp_approval_response", "id": "rtproto_approval_1",
                                        "approval_request_id": "apr_1", "approve": True}]
    assert of(out, ApprovalAnswered) == [ApprovalAnswered("apr_1", "create_repo", True, None, "policy")]
    assert sent_types(out) == ["conversation.item.create"]
    assert sent_types(feed(session, server.done("resp_1"))) == ["response.create"]


def test_no_policy_puts_every_request_to_a_person():
    session = Session()
    out = session.receive(Server().item_added(approval_request(name="anything")))
    assert [type(o).__name__ for o in out] == ["AskApproval", "ApprovalRequested"]
    assert approval_responses(out) == [] and list(session.pending_approvals) == ["apr_1"]


def test_ask_puts_the_request_to_a_person(server):
    session = Session(policy=ToolPolicy(ask={"create_repo"}))
    out = feed(session, server.item_added(approval_request()), server.item_done(approval_request()))
    request = out[0].request
    assert out == [AskApproval(request), ApprovalRequested(request)]
    assert list(session.pending_approvals) == ["apr_1"]
    answer = session.answer_approval("apr_1", True)
    assert approval_responses(answer)[0] == {"type": "mcp_approval_response", "id": "rtproto_approval_1",
                                             "approval_request_id": "apr_1", "approve": True}
    assert sent_types(answer) == ["conversation.item.create", "response.create"]
    assert of(answer, ApprovalAnswered) == [ApprovalAnswered("apr_1", "create_repo", True, None, "person")]
    assert session.pending_approvals == {}


def test_a_tool_nobody_named_is_asked_and_denied_when_nobody_answers(server):
    session = Session(policy=ToolPolicy(allow={"search"}))
    out = feed(session, server.output_item("resp_x", approval_request(name="delete_repo"), done=True))
    assert approval_responses(out) == [] and list(session.pending_approvals) == ["apr_1"]
    out = session.approval_timed_out("apr_1")
    assert approval_responses(out) == [{"type": "mcp_approval_response", "id": "rtproto_approval_1", "approval_request_id": "apr_1",
                                        "approve": False, "reason": TIMEOUT_REASON}]
    assert of(out, ApprovalAnswered)[0].by == "timeout"


def test_approval_request_is_decided_once_however_often_it_is_seen(server):
    session = Session(policy=ToolPolicy(allow={"create_repo"}))
    item = approval_request()
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", item, done=False), server.item_added(item),
               server.item_done(item), server.output_item("resp_1", item), server.done("resp_1", output=[item]))
    assert sent_types(out) == ["conversation.item.create", "response.create"]


def test_person_answer_during_a_response_waits_for_its_done(server):
    session = Session(policy=ToolPolicy(ask={"create_repo"}))
    feed(session, server.item_done(approval_request()), server.created("resp_1"))
    out = session.answer_approval("apr_1", False, "timed out")
    assert approval_responses(out)[0]["reason"] == "timed out"
    assert sent_types(out) == ["conversation.item.create"]
    assert sent_types(feed(session, server.done("resp_1"))) == ["response.create"]


def test_answering_unknown_or_answered_requests_is_refused(server):
    session = Session(policy=ToolPolicy(ask={"create_repo"}))
    feed(session, server.created("resp_1"), server.item_done(approval_request()))
    assert_refused(session, lambda: session.answer_approval("apr_9", True), "is not pending")
    assert_refused(session, lambda: session.answer_approval("apr_1", "yes"), "must be a bool")
    session.answer_approval("apr_1", True)
    assert_refused(session, lambda: session.answer_approval("apr_1", True), "already answered")


def test_a_timed_out_approval_is_denied_and_answered_by_timeout(server):
    session = Session(policy=ToolPolicy(ask={"create_repo"}))
    feed(session, server.item_done(approval_request()))
    out = session.approval_timed_out("apr_1", now_ms=30_000.0)
    assert TIMEOUT_REASON == "timed out"
    assert approval_responses(out) == [{"type": "mcp_approval_response", "id": "rtproto_approval_1", "approval_request_id": "apr_1",
                                        "approve": False, "reason": "timed out"}]
    assert sent_types(out) == ["conversation.item.create", "response.create"]
    assert of(out, ApprovalAnswered) == [ApprovalAnswered("apr_1", "create_repo", False, "timed out", "timeout")]
    assert session.pending_approvals == {}


def test_a_timeout_during_a_response_waits_for_its_done(server):
    session = Session(policy=ToolPolicy(ask={"create_repo"}))
    feed(session, server.item_done(approval_request()), server.created("resp_1"))
    out = session.approval_timed_out("apr_1")
    assert sent_types(out) == ["conversation.item.create"]
    assert sent_types(feed(session, server.done("resp_1"))) == ["response.create"]


def test_illegal_timeouts_are_refused_and_change_nothing(server):
    session = Session(policy=ToolPolicy(allow={"search"}, ask={"create_repo"}))
    feed(session, server.created("resp_1"), server.item_done(approval_request()),
         server.item_done(approval_request("apr_2", name="search")))  # apr_2: answered by the policy
    assert_refused(session, lambda: session.approval_timed_out("apr_9"), "is not pending")
    assert_refused(session, lambda: session.approval_timed_out("apr_2"), "already answered")
    person = session.answer_approval("apr_1", True)
    assert approval_responses(person)[0]["id"] == "rtproto_approval_2"  # the refused calls sent nothing
    assert_refused(session, lambda: session.approval_timed_out("apr_1"), "already answered")
    other = Session(policy=ToolPolicy(ask={"create_repo"}))
    feed(other, server.item_done(approval_request()))
    other.approval_timed_out("apr_1")
    assert_refused(other, lambda: other.approval_timed_out("apr_1"), "already answered")
    assert_refused(other, lambda: other.answer_approval("apr_1", True), "already answered")


def test_app_sent_approval_response_counts_as_the_answer(server):
    session = Session(policy=ToolPolicy(ask={"create_repo"}))
    feed(session, server.item_done(approval_request()))
    event = ConversationItemCreate(item=McpApprovalResponse(id="mine", approval_request_id="apr_1", approve=True))
    out = session.send(event)
    assert sent_types(out) == ["conversation.item.create", "response.create"]
    assert of(out, ApprovalAnswered) == [ApprovalAnswered("apr_1", "create_repo", True, None, "person")]
    assert_refused(session, lambda: session.send(event), "already answered")


def test_approval_response_ids_are_unique(server):
    session = Session(policy=ALLOW_SEARCH)
    out = feed(session, server.item_done(approval_request("apr_1")), server.item_done(approval_request("apr_2")))
    assert [item["id"] for item in approval_responses(out)] == ["rtproto_approval_1", "rtproto_approval_2"]


# ---------------------------------------------------------------------------
# Tool policy


def test_tool_policy_decides():
    policy = ToolPolicy(allow={"a", "both"}, ask={"b", "both"})
    assert [policy.decide(n) for n in ("a", "b", "both", "c")] == ["allow", "ask", "allow", "ask"]
    assert ToolPolicy.from_dict({"allow": ["a"], "ask": ["b"]}) == ToolPolicy(allow=["a"], ask=["b"])
    assert ToolPolicy.from_dict({}) == ToolPolicy()


@pytest.mark.parametrize(("data", "match"), [
    ({"allow": "a"}, "'allow' must be a list"), ({"ask": [1]}, "'ask' must be a list"),
    ({"deny": []}, "unknown tool policy key"), (["a"], "must be an object"),
])
def test_tool_policy_from_bad_dict(data, match):
    with pytest.raises(ValueError, match=match):
        ToolPolicy.from_dict(data)


def test_tool_policy_refuses_a_plain_string():
    with pytest.raises(TypeError, match="allow"):
        ToolPolicy(allow="search")


def test_call_of_a_denied_tool_is_a_violation_and_cancels_once(server):
    session = Session(policy=ToolPolicy(allow={"search"}, ask={"ask_me"}))
    bad = mcp_call(name="rm_rf", arguments="")
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", bad, done=False),
               server.item_added(bad), server.output_item("resp_1", {**bad, "output": "done"}),
               server.item_done({**bad, "output": "done"}))
    assert of(out, PolicyViolation) == [PolicyViolation(
        "MCP tool 'rm_rf' of server 'docs' ran without a person's yes or --allow", "mcp_1", "rm_rf")]
    assert sent(out) == [{"type": "response.cancel", "response_id": "resp_1"}]
    out = feed(session, server.done("resp_1", status="cancelled"))
    assert sent(out) == []  # the violating call owes no follow-up


def test_one_cancel_per_response_however_many_violations(server):
    session = Session(policy=ToolPolicy())
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", mcp_call("mcp_1", name="a")),
               server.output_item("resp_1", mcp_call("mcp_2", name="b")))
    assert len(of(out, PolicyViolation)) == 2
    assert sent_types(out) == ["response.cancel"]
    session2 = Session(policy=ToolPolicy())
    feed(session2, server.created("resp_1"))
    session2.send(ResponseCancel())  # the app cancelled first
    assert sent(feed(session2, server.output_item("resp_1", mcp_call(name="a")))) == []


def test_call_of_an_ask_tool_a_person_approved_is_no_violation(server):
    session = Session(policy=ToolPolicy(ask={"search"}))
    feed(session, server.item_added(approval_request(name="search")))
    session.answer_approval("apr_1", True)
    call = {**mcp_call(output="x"), "approval_request_id": "apr_1"}
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", call))
    assert of(out, PolicyViolation) == [] and sent_types(out) == []


@pytest.mark.parametrize("approval", [None, "apr_unknown", "apr_1"])
def test_call_of_an_ask_tool_without_a_persons_yes_is_a_violation(server, approval):
    session = Session(policy=ToolPolicy(ask={"search"}))
    feed(session, server.item_added(approval_request(name="search")))
    session.answer_approval("apr_1", False)  # "apr_1" was asked, and the answer was no
    call = mcp_call(output="x") | ({"approval_request_id": approval} if approval else {})
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", call))
    assert len(of(out, PolicyViolation)) == 1 and sent_types(out) == ["response.cancel"]


def test_violation_seen_after_its_response_ended_cancels_nothing(server):
    session = Session(policy=ToolPolicy())
    out = feed(session, server.created("resp_1"), server.done("resp_1"), server.item_done(mcp_call(name="x")))
    assert len(of(out, PolicyViolation)) == 1 and sent(out) == []


# ---------------------------------------------------------------------------
# Function tools


def call_done(server, rid="resp_1", call_id="call_1", name="get_weather", item_id="fc_1", status="completed"):
    """A function call's item is done (its arguments complete)."""
    item = {**function_call(call_id, name, item_id), "status": status}
    return server.output_item(rid, item)


def called(server, rid="resp_1", **call):
    """A response that completed with one function call."""
    return [server.created(rid), call_done(server, rid, **call), server.done(rid)]


def test_function_call_round_trip(server):
    session = Session(function_tools={"get_weather"})
    out = feed(session, server.created("resp_1"), server.output_item("resp_1", function_call(arguments=""), done=False),
               server("response.function_call_arguments.done", response_id="resp_1", item_id="fc_1", output_index=0,
                      call_id="call_1", name="get_weather", arguments='{"city":"Oslo"}'),
               server.output_item("resp_1", function_call()),
               server.item_done(function_call()), server.done("resp_1", output=[function_call()]))
    assert of(out, CallFunction) == [CallFunction("call_1", "get_weather", '{"city":"Oslo"}')]
    assert of(out, ToolCall) == [ToolCall("function", "fc_1", "call_1", None, "get_weather", '{"city":"Oslo"}')]
    assert sent(out) == []  # the result is not in yet
    assert session.pending_calls == {"call_1": CallFunction("call_1", "get_weather", '{"city":"Oslo"}')}
    out = session.function_result("call_1", '{"temp": 3}')
    assert sent(out) == [{"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": '{"temp": 3}'}}, {"type": "response.create"}]
    assert of(out, ToolResult) == [ToolResult("function", "fc_1", "call_1", "get_weather", '{"temp": 3}', None)]
    assert session.pending_calls == {}


def test_a_completed_call_runs_when_its_response_completes(server):
    session = Session(function_tools={"get_weather"})
    out = feed(session, server.created("resp_1"), call_done(server))
    assert of(out, CallFunction) == [] and of(out, ToolCall)[0].name == "get_weather"  # shown, held
    out = feed(session, server.done("resp_1"))
    assert of(out, CallFunction) == [CallFunction("call_1", "get_weather", '{"city":"Oslo"}')]
    assert sent_types(session.function_result("call_1", "{}")) == ["conversation.item.create", "response.create"]


@pytest.mark.parametrize(("item_status", "response_status"), [
    ("incomplete", "cancelled"), ("completed", "cancelled"), ("completed", "incomplete"), ("completed", "failed"),
])
def test_a_call_cut_off_is_shown_never_run_and_never_answered(server, item_status, response_status):
    session = Session(function_tools={"get_weather"})
    out = feed(session, server.created("resp_1"), call_done(server, status=item_status),
               server.done("resp_1", status=response_status))
    assert of(out, CallFunction) == [] and sent(out) == []
    assert [n.error for n in of(out, ToolResult)] == [
        f"not run: {'the call is incomplete' if item_status == 'incomplete' else f'response {response_status}'}"]
    assert not session.busy and session.pending_calls == {}


def test_one_response_create_after_all_outputs_of_a_response(server):
    session = Session(function_tools={"get_weather"})
    feed(session, server.created("resp_1"), call_done(server, call_id="call_1", item_id="fc_1"),
         call_done(server, call_id="call_2", item_id="fc_2"), server.done("resp_1"))
    assert sent_types(session.function_result("call_2", "{}")) == ["conversation.item.create"]
    assert sent_types(session.function_result("call_1", "{}")) == ["conversation.item.create", "response.create"]


def test_unregistered_function_gets_an_error_output_at_once(server):
    session = Session(function_tools={"get_weather"})
    out = feed(session, *called(server, name="launch"))
    error = json.dumps({"error": "unknown function tool 'launch'"})
    assert sent(out) == [{"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": error}}, {"type": "response.create"}]
    assert of(out, ToolResult) == [ToolResult("function", "fc_1", "call_1", "launch", None, error)]
    assert of(out, CallFunction) == []


def test_function_error_output(server):
    session = Session(function_tools={"get_weather"})
    feed(session, *called(server))
    error = json.dumps({"error": "ValueError: no such city"})
    out = session.function_result("call_1", error, is_error=True)
    assert sent(out)[0]["item"]["output"] == error
    assert of(out, ToolResult) == [ToolResult("function", "fc_1", "call_1", "get_weather", None, error)]


def test_function_result_for_unknown_or_answered_calls_is_refused(server):
    session = Session(function_tools={"get_weather"})
    feed(session, *called(server))
    assert_refused(session, lambda: session.function_result("call_9", "{}"), "not a pending function call")
    assert_refused(session, lambda: session.function_result("call_1", 42), "must be a string")
    session.function_result("call_1", "{}")
    assert_refused(session, lambda: session.function_result("call_1", "{}"), "already has its output")
    output = ConversationItemCreate(item=FunctionCallOutput(call_id="call_1", output="{}"))
    assert_refused(session, lambda: session.send(output), "already has its output")


def test_function_call_item_still_streaming_is_not_called(server):
    session = Session(function_tools={"get_weather"})
    out = feed(session, server.created("resp_1"), server.item_added(function_call(arguments="")))
    assert of(out, CallFunction) == []


# ---------------------------------------------------------------------------
# Barge-in and truncation


def test_barge_in_clears_and_truncates_at_what_was_played(server):
    session = Session()
    speaking(session, server, nbytes=48000)  # 1000 ms
    out = feed(session, server.speech_started())
    assert out == [SpeechStarted("item_u2", 1000), ClearPlayback("msg_a1", 0)]
    out = session.playback_cleared("msg_a1", 0, 250.7)
    assert sent(out) == [{"type": "conversation.item.truncate", "item_id": "msg_a1", "content_index": 0,
                          "audio_end_ms": 250}]
    assert of(out, Truncated) == [Truncated("msg_a1", 0, 250)]
    assert session.audio_played_ms == {("msg_a1", 0): 250.0}
    assert session.playback_cleared("msg_a1", 0, 300.0) == []  # never twice for an item
    assert of(feed(session, server.speech_started()), ClearPlayback) == []


def test_truncation_never_goes_past_what_was_received(server):
    session = Session()
    speaking(session, server, nbytes=48000 + 24)  # 1000.5 ms
    out = session.playback_cleared("msg_a1", 0, 5000.0)
    assert of(out, Truncated) == [Truncated("msg_a1", 0, 1000)]


def test_everything_played_of_a_done_response_needs_no_truncate(server):
    session = Session()
    speaking(session, server, nbytes=4800)
    feed(session, server.done("resp_1"), server.speech_started())
    assert session.playback_cleared("msg_a1", 0, 100.0) == []
    assert session.playback_cleared("msg_a1", 0, 100.0) == []


def test_everything_played_of_a_running_response_is_still_truncated(server):
    session = Session()
    speaking(session, server, nbytes=4800)
    out = session.playback_cleared("msg_a1", 0, 100.0)
    assert of(out, Truncated) == [Truncated("msg_a1", 0, 100)]


def test_parts_reported_played_are_not_cleared(server):
    session = Session()
    speaking(session, server, nbytes=4800)
    assert session.playback_progress("msg_a1", 0, 100.0) == []
    assert of(feed(session, server.speech_started()), ClearPlayback) == []
    feed(session, server.audio("resp_1", "msg_a1", 480))  # more audio arrives: may be playing again
    assert of(feed(session, server.speech_started()), ClearPlayback) == [ClearPlayback("msg_a1", 0)]


def test_each_part_with_unplayed_audio_is_cleared_once(server):
    session = Session()
    speaking(session, server, rid="resp_1", item_id="msg_a1", nbytes=480)
    feed(session, server.done("resp_1"))
    speaking(session, server, rid="resp_2", item_id="msg_a2", nbytes=480)
    feed(session, server.audio("resp_2", "msg_a2", 480, content_index=1))
    out = feed(session, server.speech_started())
    assert of(out, ClearPlayback) == [ClearPlayback("msg_a1", 0), ClearPlayback("msg_a2", 0), ClearPlayback("msg_a2", 1)]
    assert of(feed(session, server.speech_started()), ClearPlayback) == []


def test_no_clear_without_audio(server):
    session = Session()
    feed(session, server.created("resp_1"), server.output_item("resp_1", assistant_item(), done=False))
    assert feed(session, server.speech_started()) == [SpeechStarted("item_u2", 1000)]
    assert session.playback_cleared("msg_a1", 0, 0.0) == []  # a known assistant item without audio


def test_playback_cleared_refuses_unknown_and_non_assistant_items(server):
    session = Session()
    speaking(session, server, nbytes=4800)
    feed(session, server.item_added(user_item("msg_u1")))
    assert_refused(session, lambda: session.playback_cleared("msg_zz", 0, 10.0), "unknown item")
    assert_refused(session, lambda: session.playback_cleared("msg_u1", 0, 10.0), "not an assistant message")
    assert_refused(session, lambda: session.playback_cleared("msg_a1", 0, -1.0), "played_ms")
    assert_refused(session, lambda: session.playback_cleared("msg_a1", 0, math.nan), "played_ms")


def test_server_confirmed_truncation_stops_further_truncates(server):
    session = Session()
    speaking(session, server, nbytes=48000)
    feed(session, server("conversation.item.truncated", item_id="msg_a1", content_index=0, audio_end_ms=300))
    assert session.audio_played_ms == {("msg_a1", 0): 300.0}
    assert session.playback_cleared("msg_a1", 0, 400.0) == []


def test_app_truncate_is_checked_and_tracked(server):
    session = Session()
    speaking(session, server, nbytes=4800)
    too_far = ConversationItemTruncate(item_id="msg_a1", content_index=0, audio_end_ms=101)
    assert_refused(session, lambda: session.send(too_far), "past the 100.0 ms")
    out = session.send(ConversationItemTruncate(item_id="msg_a1", content_index=0, audio_end_ms=60))
    assert of(out, Truncated) == [Truncated("msg_a1", 0, 60)]
    assert session.playback_cleared("msg_a1", 0, 80.0) == []


# ---------------------------------------------------------------------------
# Transcripts, items, text input


def test_assistant_transcripts(server):
    session = Session()
    base = {"response_id": "resp_1", "item_id": "msg_a1", "output_index": 0, "content_index": 0}
    out = feed(session, server.created("resp_1"),
               server("response.output_audio_transcript.delta", delta="Hel", **base),
               server("response.output_audio_transcript.delta", delta="lo", **base))
    assert of(out, TranscriptDelta) == [TranscriptDelta("assistant", "msg_a1", "Hel"),
                                        TranscriptDelta("assistant", "msg_a1", "lo")]
    assert session.transcripts["msg_a1"].text == "Hello" and not session.transcripts["msg_a1"].done
    out = feed(session, server("response.output_audio_transcript.done", transcript="Hello.", **base),
               server("response.output_text.delta", delta="T", **{**base, "item_id": "msg_t"}),
               server("response.output_text.done", text="Text", **{**base, "item_id": "msg_t"}))
    assert of(out, TranscriptDone) == [TranscriptDone("assistant", "msg_a1", "Hello."),
                                       TranscriptDone("assistant", "msg_t", "Text")]
    assert session.transcripts["msg_a1"].done


def test_user_transcripts_from_audio_and_typed_items(server):
    session = Session()
    out = feed(session,
               server("conversation.item.input_audio_transcription.delta", item_id="msg_u1", content_index=0, delta="Hi"),
               server("conversation.item.input_audio_transcription.completed", item_id="msg_u1", content_index=0,
                      transcript="Hi there", usage={"type": "duration", "seconds": 1.2}),
               server("conversation.item.input_audio_transcription.failed", item_id="msg_u3", content_index=0,
                      error={"message": "bad audio"}),
               server.item_added(user_item("msg_u2", text="typed")), server.item_done(user_item("msg_u2", text="typed")))
    assert [o for o in out if isinstance(o, (TranscriptDelta, TranscriptDone, TranscriptionFailed))] == [
        TranscriptDelta("user", "msg_u1", "Hi"), TranscriptDone("user", "msg_u1", "Hi there"),
        TranscriptionFailed("msg_u3", "bad audio"), TranscriptDone("user", "msg_u2", "typed")]
    assert session.transcripts["msg_u2"].role == "user"


def test_send_text_sends_the_item_and_a_response_create(server):
    session = Session()
    out = session.send_text("hello")
    assert sent(out) == [{"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}},
        {"type": "response.create"}]
    feed(session, server.created("resp_1"))
    assert sent_types(session.send_text("more")) == ["conversation.item.create"]
    assert sent_types(feed(session, server.done("resp_1"))) == ["response.create"]


def test_items_follow_previous_item_id(server):
    session = Session()
    feed(session, server.item_added(user_item("a")), server.item_added(user_item("c"), previous_item_id="a"),
         server.item_added(user_item("b"), previous_item_id="a"), server.item_added(user_item("z"), previous_item_id=None),
         server.item_added(user_item("x"), previous_item_id="unknown"), server.item_done(user_item("b", text="now")))
    assert [item.id for item in session.items] == ["z", "a", "b", "c", "x"]
    assert session.items[2].content[0].text == "now"  # the latest version
    feed(session, server("conversation.item.deleted", item_id="c"))
    assert [item.id for item in session.items] == ["z", "a", "b", "x"]


def test_tools_listed_once(server):
    session = Session()
    tools = {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "docs",
             "tools": [{"name": "search", "input_schema": {}}, {"name": "fetch", "input_schema": {}}]}
    out = feed(session, server.item_added({**tools, "tools": []}), server.item_done(tools), server.item_done(tools),
               server("mcp_list_tools.failed", item_id="mcpl_2"))
    assert of(out, ToolsListed) == [ToolsListed("mcpl_1", "docs", ("search", "fetch")),
                                    ToolsListed("mcpl_2", None, (), failed=True)]


def test_speech_stopped_notice(server):
    out = Session().receive(server("input_audio_buffer.speech_stopped", item_id="u", audio_end_ms=900))
    assert out == [SpeechStopped("u", 900)]


# ---------------------------------------------------------------------------
# Usage and latency


USAGE = {"total_tokens": 30, "input_tokens": 20, "output_tokens": 10,
         "input_token_details": {"text_tokens": 5, "audio_tokens": 15, "cached_tokens": 4},
         "output_token_details": {"text_tokens": 3, "audio_tokens": 7}}


def test_turn_stats_usage_and_latency_from_speech_stopped(server):
    session = Session()
    session.receive(server("input_audio_buffer.speech_stopped", item_id="u", audio_end_ms=900), now_ms=1000.0)
    session.receive(server.created("resp_1"), now_ms=1100.0)
    session.receive(server.audio("resp_1", "msg_a1", 480), now_ms=1350.0)
    session.receive(server.audio("resp_1", "msg_a1", 480), now_ms=1400.0)
    out = session.receive(server.done("resp_1", usage=USAGE), now_ms=2000.0)
    stats = out[-1].stats
    usage = TokenUsage(20, 10, 5, 15, 4, 3, 7)
    assert (stats.response_id, stats.status, stats.reason, stats.usage) == ("resp_1", "completed", None, usage)
    assert (stats.latency_ms, stats.started_ms, stats.ended_ms) == (350.0, 1100.0, 2000.0)
    session.receive(server.created("resp_2"), now_ms=3000.0)
    session.receive(server.done("resp_2", status="cancelled", usage=USAGE,
                                status_details={"type": "cancelled", "reason": "turn_detected"}), now_ms=3100.0)
    assert session.usage == usage + usage and session.usage.total_tokens == 60
    assert [(t.status, t.reason, t.latency_ms) for t in session.turns] == [
        ("completed", None, 350.0), ("cancelled", "turn_detected", None)]


def test_latency_from_our_commit_or_response_create(server):
    session = Session()
    session.send(InputAudioBufferCommit(), now_ms=100.0)
    session.send(ResponseCreate(), now_ms=150.0)
    session.receive(server.created("resp_1"), now_ms=200.0)
    session.receive(server.audio("resp_1", "m1", 48), now_ms=400.0)
    session.receive(server.done("resp_1"), now_ms=500.0)
    session.send_text("hi", now_ms=1000.0)
    session.receive(server.created("resp_2"), now_ms=1100.0)
    session.receive(server.audio("resp_2", "m2", 48), now_ms=1250.0)
    session.receive(server.done("resp_2"), now_ms=1300.0)
    assert [t.latency_ms for t in session.turns] == [300.0, 250.0]


# ---------------------------------------------------------------------------
# A misbehaving server: live mode reports, strict mode raises


def test_delta_for_an_unknown_response(server):
    live, strict = Session(), Session(strict=True)
    delta = server.audio("resp_9", "msg_a1", 480)
    out = live.receive(delta)
    assert out == [ProtocolViolation("response.output_audio.delta for response 'resp_9', which is unknown")]
    assert live.audio_received_ms == {("msg_a1", 0): 10.0}  # still counted
    before = snapshot(strict)
    with pytest.raises(RemoteProtocolError, match="resp_9") as caught:
        strict.receive(delta)
    assert caught.value.event_type == "response.output_audio.delta"
    assert snapshot(strict) == before


def test_delta_for_a_done_response(server):
    session = Session()
    feed(session, server.created("resp_1"), server.done("resp_1"))
    out = session.receive(server("response.output_text.delta", response_id="resp_1", item_id="m", output_index=0,
                                 content_index=0, delta="x"))
    assert out[0] == ProtocolViolation("response.output_text.delta for response 'resp_1', which is done")


def test_response_done_without_response_created(server):
    live, strict = Session(), Session(strict=True)
    out = live.receive(server.done("resp_7", usage=USAGE))
    assert out[0] == ProtocolViolation("response.done for 'resp_7', which was never created")
    assert out[1].stats.started_ms is None and live.usage.input_tokens == 20
    before = snapshot(strict)
    with pytest.raises(RemoteProtocolError, match="never created"):
        strict.receive(server.done("resp_7", usage=USAGE))
    assert snapshot(strict) == before


def test_response_created_while_another_is_active(server):
    session = Session()
    out = feed(session, server.created("resp_1"), server.created("resp_2"))
    assert ProtocolViolation("response.created for 'resp_2' while the response slot is active ('resp_1')") in out
    assert session.active_response_id == "resp_2"
    strict = Session(strict=True)
    feed(strict, server.created("resp_1"))
    with pytest.raises(RemoteProtocolError, match="while the response slot is active"):
        strict.receive(server.created("resp_2"))
    assert strict.active_response_id == "resp_1"


def test_response_done_twice(server):
    session = Session(strict=True)
    feed(session, server.created("resp_1"), server.done("resp_1"))
    with pytest.raises(RemoteProtocolError, match="already done"):
        session.receive(server.done("resp_1"))


# ---------------------------------------------------------------------------
# Local transcript lines


def test_local_lines_dispatch_to_the_methods(server):
    def prepared():
        session = Session(policy=ToolPolicy(ask={"create_repo"}), function_tools={"get_weather"})
        feed(session, *called(server, rid="resp_0"))
        speaking(session, server, nbytes=4800)
        feed(session, server.item_done(approval_request()))
        return session

    pairs = [
        ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": False, "reason": "timed out"},
         lambda s: s.answer_approval("apr_1", False, "timed out")),
        ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": True, "reason": None, "by": "person"},
         lambda s: s.answer_approval("apr_1", True)),
        ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": False, "reason": "timed out",
          "by": "timeout"}, lambda s: s.approval_timed_out("apr_1")),
        ({"type": "playback.cleared", "item_id": "msg_a1", "content_index": 0, "played_ms": 40},
         lambda s: s.playback_cleared("msg_a1", 0, 40.0)),
        ({"type": "function.result", "call_id": "call_1", "output": "{}", "is_error": False},
         lambda s: s.function_result("call_1", "{}")),
        ({"type": "text.input", "text": "hi"}, lambda s: s.send_text("hi")),
    ]
    for line, method in pairs:
        from_line, from_method = prepared().local(line), method(prepared())
        assert from_line == from_method and from_line
    assert prepared().local({"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}) == []


def test_timeout_lines_replay_as_timeouts_and_older_lines_as_a_person(server):
    def answered(line):
        session = Session(policy=ToolPolicy(ask={"create_repo"}))
        feed(session, server.item_done(approval_request()))
        out = session.local({"type": "approval.answer", "approval_request_id": "apr_1", **line})
        (notice,) = of(out, ApprovalAnswered)
        return notice.by, notice.approve, notice.reason

    assert answered({"approve": False, "reason": "timed out", "by": "timeout"}) == ("timeout", False, "timed out")
    assert answered({"approve": False, "by": "timeout"}) == ("timeout", False, "timed out")  # the core's reason
    assert answered({"approve": False, "reason": "timed out"}) == ("person", False, "timed out")  # before "by"
    assert answered({"approve": False, "reason": "timed out", "by": None}) == ("person", False, "timed out")


@pytest.mark.parametrize(("line", "match"), [
    ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": "yes"}, r"approval.answer: 'approve' must be bool"),
    ({"type": "playback.cleared", "item_id": "msg_a1", "content_index": True, "played_ms": 1}, "'content_index' must be int"),
    ({"type": "playback.cleared", "item_id": "msg_a1", "content_index": 0}, r"'played_ms' must be float.*\$\.played_ms"),
    ({"type": "function.result", "output": "{}"}, "'call_id' must be str"),
    ({"type": "text.input"}, "'text' must be str"),
    ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": False, "by": "policy"},
     r"approval.answer: 'by' must be one of 'person', 'timeout', got 'policy' at \$\.by"),
    ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": False, "by": ["timeout"]},
     "'by' must be one of"),
    ({"type": "approval.answer", "approval_request_id": "apr_1", "approve": True, "by": "timeout"},
     r"a timeout denies, so 'approve' must be false at \$\.approve"),
    ({"type": "approval.answer", "approval_request_id": "apr_9", "approve": False, "by": "timeout"}, "is not pending"),
])
def test_bad_local_lines_name_the_field(server, line, match):
    session = Session()
    speaking(session, server)
    assert_refused(session, lambda: session.local(line), match)


def test_client_chosen_item_ids_never_look_like_the_servers(server):
    session = Session(policy=ToolPolicy(allow={"search"}))
    out = feed(session, server.item_added(approval_request(name="search")))
    (item_id,) = [item["id"] for item in approval_responses(out)]
    server_prefixes = ("item_", "mcpr_", "mcp_", "mcpl_", "fc_", "msg_", "call_", "resp_", "event_", "sess_")
    assert item_id.startswith("rtproto_") and not item_id.startswith(server_prefixes)


# ---------------------------------------------------------------------------
# Function calls under the tool policy (local tools a person approves)


def asked_session(server, **policy):
    session = Session(policy=ToolPolicy(**policy), function_tools={"get_weather", "write_note"})
    out = feed(session, *called(server, name="write_note"))
    return session, out


def test_a_function_the_policy_asks_about_waits_for_a_person(server):
    session, out = asked_session(server, ask={"write_note"})
    question = FunctionApproval("call_1", "write_note", '{"city":"Oslo"}')
    assert of(out, AskApproval) == [AskApproval(question)] and of(out, ApprovalRequested) == [ApprovalRequested(question)]
    assert of(out, CallFunction) == [] and sent(out) == []
    assert session.busy and session.pending_approvals == {"call_1": question} and session.pending_calls == {}
    out = session.answer_approval("call_1", True)
    assert of(out, ApprovalAnswered) == [ApprovalAnswered("call_1", "write_note", True, None, "person")]
    assert of(out, CallFunction) == [CallFunction("call_1", "write_note", '{"city":"Oslo"}')] and sent(out) == []
    out = session.function_result("call_1", '"saved"')
    assert sent_types(out) == ["conversation.item.create", "response.create"]
    assert session.pending_approvals == {} and session.pending_calls == {}


@pytest.mark.parametrize("answer", ["person", "timeout"])
def test_a_denied_function_call_is_answered_as_denied_with_one_follow_up(server, answer):
    session, _ = asked_session(server, ask={"write_note"})
    if answer == "person":
        out = session.answer_approval("call_1", False, "denied by user")
    else:
        out = session.approval_timed_out("call_1")
    reason = "denied by user" if answer == "person" else TIMEOUT_REASON
    denial = json.dumps({"error": f"not run: the call was denied ({reason})"})
    assert of(out, CallFunction) == []
    assert sent(out) == [{"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": denial}}, {"type": "response.create"}]
    assert of(out, ApprovalAnswered)[0].by == answer
    assert of(out, ToolResult) == [ToolResult("function", "fc_1", "call_1", "write_note", None, denial)]
    assert session.pending_approvals == {} and not session.tools.waiting
    assert_refused(session, lambda: session.answer_approval("call_1", True), "already answered")


def test_registered_functions_run_unless_ask_names_them_and_allow_wins(server):
    session, out = asked_session(server)  # named nowhere: registering it was the consent
    assert of(out, CallFunction) == [CallFunction("call_1", "write_note", '{"city":"Oslo"}')]
    session, out = asked_session(server, allow={"write_note"}, ask={"write_note"})
    assert of(out, CallFunction) and not of(out, AskApproval)


def test_a_function_question_cannot_be_answered_with_an_mcp_approval_response(server):
    session, _ = asked_session(server, ask={"write_note"})
    item = ConversationItemCreate(item=McpApprovalResponse(id="rtproto_x", approval_request_id="call_1", approve=True))
    assert_refused(session, lambda: session.send(item), "function call's question")
    output = ConversationItemCreate(item=FunctionCallOutput(call_id="call_1", output="{}"))
    assert_refused(session, lambda: session.send(output), "not a pending function call")


def test_set_tools_changes_what_later_calls_may_do(server):
    session = Session(function_tools={"get_weather"})
    out = feed(session, *called(server, name="write_note"))
    assert "unknown function tool" in of(out, ToolResult)[0].error
    session.set_tools({"get_weather", "write_note"}, ToolPolicy(ask={"write_note"}))
    out = feed(session, *called(server, rid="resp_2", name="write_note", call_id="call_2", item_id="fc_2"))
    assert [type(o) for o in out if isinstance(o, AskApproval)] == [AskApproval]
    assert session.function_tools == {"get_weather", "write_note"} and session.policy.ask == {"write_note"}


def test_a_tools_changed_line_replays_set_tools(server):
    session = Session(function_tools={"get_weather"})
    assert session.local({"type": "tools.changed", "function_tools": ["a", "b"],
                          "policy": {"allow": ["a"], "ask": ["b"]}}) == []
    assert session.function_tools == {"a", "b"} and session.policy == ToolPolicy(allow={"a"}, ask={"b"})
    for bad, path in [({"function_tools": "a", "policy": {}}, "$.function_tools"),
                      ({"function_tools": [1], "policy": {}}, "$.function_tools"),
                      ({"function_tools": [], "policy": {"deny": []}}, "$.policy")]:
        with pytest.raises(LocalProtocolError) as err:
            session.local({"type": "tools.changed", **bad})
        assert err.value.path == path


def test_a_lost_connection_forgets_function_questions(server):
    session, _ = asked_session(server, ask={"write_note"})
    session.tools.forget()
    assert session.pending_approvals == {} and not session.tools.waiting


def test_an_approval_request_and_a_function_question_never_share_an_answer(server):
    # A server that gives an mcp_approval_request the call_id of an asked function call (or the
    # other way round) must not get one "yes" to run both: the second is refused, never asked.
    session = Session(policy=ToolPolicy(ask={"write_note"}), function_tools={"write_note"})
    request = {"type": "mcp_approval_request", "id": "call_1", "server_label": "gh", "name": "delete_repo",
               "arguments": "{}"}
    out = feed(session, *called(server, name="write_note"), server.item_done(request))
    assert [type(o) for o in out if isinstance(o, AskApproval)] == [AskApproval]
    assert isinstance(of(out, AskApproval)[0].request, FunctionApproval)
    assert "not asked" in of(out, ProtocolViolation)[0].message

    session = Session(policy=ToolPolicy(ask={"write_note"}), function_tools={"write_note"})
    out = feed(session, server.item_done(request), *called(server, name="write_note"))
    assert [o.request.name for o in of(out, AskApproval)] == ["delete_repo"]
    assert "id of an approval request" in of(out, ProtocolViolation)[0].message
    assert json.loads(sent(out)[0]["item"]["output"]) == {"error": "not run: its call_id is also an approval request's id"}
