"""Offline replay of transcripts into the session core."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rtproto.actions import ApprovalAnswered, ProtocolViolation, ToolCall, ToolResult, Truncated, TurnDone
from rtproto.errors import TranscriptError
from rtproto.policy import ToolPolicy
from rtproto.replay import replay
from rtproto.testing import ScriptBuilder
from rtproto.transcript import read_transcript

FIXTURES = Path(__file__).parent / "fixtures"
MCP_TOOL = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/mcp"}
WEATHER_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


class Script:
    """A ScriptBuilder whose server events get event ids; remembers line numbers."""

    def __init__(self, **header):
        self.builder = ScriptBuilder(**header)
        self.count = 0
        self.line = 1  # the header

    def server(self, type_, **fields):
        self.count += 1
        self.builder.server(type_, event_id=f"event_{self.count}", after_ms=10, **fields)
        return self._added()

    def client(self, type_, **fields):
        self.builder.expect_client({"type": type_, **fields}, after_ms=1)
        return self._added()

    def local(self, type_, **fields):
        self.builder.local({"type": type_, **fields}, after_ms=5)
        return self._added()

    def _added(self):
        self.line += 1
        return self

    def build(self):
        return self.builder.build()

    # -- recurring pieces --

    def start(self, tools=()):
        self.server("session.created", session={"type": "realtime", "id": "sess_1"})
        self.client("session.update", event_id="evt_1", session={"type": "realtime", "tools": list(tools)})
        return self.server("session.updated", session={"type": "realtime", "id": "sess_1"})

    def user_turn(self, item_id="item_u1"):
        self.server("input_audio_buffer.speech_started", item_id=item_id, audio_start_ms=100)
        self.client("input_audio_buffer.append", audio=base64.b64encode(bytes(960)).decode())
        self.server("input_audio_buffer.speech_stopped", item_id=item_id, audio_end_ms=900)
        return self.server("input_audio_buffer.committed", item_id=item_id)

    def created(self, rid):
        return self.server("response.created", response={"id": rid, "status": "in_progress"})

    def done(self, rid, status="completed", **response):
        return self.server("response.done", response={"id": rid, "status": status, **response})

    def output_item(self, rid, item, done=True):
        kind = "response.output_item.done" if done else "response.output_item.added"
        return self.server(kind, response_id=rid, output_index=0, item=item)

    def audio(self, rid, item_id, nbytes):
        return self.server("response.output_audio.delta", response_id=rid, item_id=item_id, output_index=0,
                           content_index=0, delta=base64.b64encode(bytes(nbytes)).decode())

    def spoken_answer(self, rid, item_id):
        self.created(rid)
        self.output_item(rid, {"type": "message", "role": "assistant", "id": item_id, "content": []}, done=False)
        self.audio(rid, item_id, 4800)
        return self.done(rid)


def mcp_call(name="search", output=None, item_id="mcp_1"):
    item = {"type": "mcp_call", "id": item_id, "server_label": "docs", "name": name, "arguments": '{"q":"x"}'}
    return item if output is None else {**item, "output": output}


def mcp_call_turn(script, name="search"):
    """A user turn whose response calls an MCP tool; returns the line of its response.done."""
    script.user_turn().created("resp_1")
    script.output_item("resp_1", {**mcp_call(name), "arguments": ""}, done=False)
    script.server("response.mcp_call_arguments.done", response_id="resp_1", item_id="mcp_1", output_index=0,
                  arguments='{"q":"x"}')
    script.output_item("resp_1", mcp_call(name, output="42"))
    script.server("conversation.item.done", item=mcp_call(name, output="42"))
    return script.done("resp_1", output=[mcp_call(name, output="42")]).line


def mcp_script(recorded_creates=1):
    script = Script().start([MCP_TOOL])
    script.server("conversation.item.added", item={"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "docs",
                                                   "tools": []})
    script.server("conversation.item.done", item={"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "docs",
                                                  "tools": [{"name": "search", "input_schema": {}}]})
    done_line = mcp_call_turn(script)
    for _ in range(recorded_creates):
        script.client("response.create")
    script.spoken_answer("resp_2", "msg_a2")
    return script, done_line


def approval_script(answer, recorded_item, policy):
    script = Script(policy=policy).start([MCP_TOOL]).user_turn().created("resp_1")
    request = {"type": "mcp_approval_request", "id": "mcpr_server_1", "server_label": "docs", "name": "create_repo",
               "arguments": "{}"}
    script.output_item("resp_1", request, done=False)
    script.server("conversation.item.done", item=request)
    script.output_item("resp_1", request)
    script.done("resp_1", output=[request])
    if answer is not None:
        script.local("approval.answer", approval_request_id="mcpr_server_1", **answer)
    script.client("conversation.item.create", item={"type": "mcp_approval_response", "id": "mcpr_XyZ",
                                                    "approval_request_id": "mcpr_server_1", **recorded_item})
    script.client("response.create")
    return script.spoken_answer("resp_2", "msg_a2")


# ---------------------------------------------------------------------------
# Flows a correct client recorded


def test_mcp_call_flow():
    script, _ = mcp_script()
    result = replay(script.build())
    assert result.ok, result.mismatches
    assert [r.event["type"] for r in result.expected] == ["response.create"]
    assert [p.event["type"] for p in result.produced] == ["response.create"]
    notices = [n.notice for n in result.notices]
    assert ToolCall("mcp", "mcp_1", None, "docs", "search", '{"q":"x"}') in notices
    assert ToolResult("mcp", "mcp_1", None, "search", "42", None) in notices
    assert [n.notice.stats.response_id for n in result.notices if isinstance(n.notice, TurnDone)] == ["resp_1", "resp_2"]
    assert result.session.turns[1].latency_ms is not None


def test_approval_approved_by_a_person():
    policy = {"allow": ["search"], "ask": ["create_repo"]}
    script = approval_script({"approve": True, "reason": None}, {"approve": True}, policy)
    result = replay(script.build())
    assert result.ok, result.mismatches
    assert [r.event["type"] for r in result.expected] == ["conversation.item.create", "response.create"]
    answered = [n.notice for n in result.notices if isinstance(n.notice, ApprovalAnswered)]
    assert answered == [ApprovalAnswered("mcpr_server_1", "create_repo", True, None, "person")]


ASK_POLICY = {"allow": ["search"], "ask": ["create_repo"]}
TIMED_OUT = {"approve": False, "reason": "timed out"}


def answers(result):
    return [n.notice for n in result.notices if isinstance(n.notice, ApprovalAnswered)]


def test_approval_denied_by_a_person():
    # Also how transcripts from before "by" recorded a timeout: they replay as a person's answer.
    result = replay(approval_script(TIMED_OUT, TIMED_OUT, ASK_POLICY).build())
    assert result.ok, result.mismatches
    assert answers(result) == [ApprovalAnswered("mcpr_server_1", "create_repo", False, "timed out", "person")]


def test_approval_timed_out():
    result = replay(approval_script(TIMED_OUT | {"by": "timeout"}, TIMED_OUT, ASK_POLICY).build())
    assert result.ok, result.mismatches
    assert [r.event["type"] for r in result.expected] == ["conversation.item.create", "response.create"]
    assert answers(result) == [ApprovalAnswered("mcpr_server_1", "create_repo", False, "timed out", "timeout")]


def test_a_timeout_line_whose_recorded_answer_differs_is_a_mismatch():
    script = approval_script(TIMED_OUT | {"by": "timeout"}, {"approve": False, "reason": "no answer"}, ASK_POLICY)
    (mismatch,) = replay(script.build()).mismatches
    assert "reason='no answer') where the core produced conversation.item.create (mcp_approval_response " \
           "mcpr_server_1 approve=False reason='timed out')" in mismatch


def test_a_tool_the_policy_does_not_allow_is_asked_about_never_denied_unasked():
    script = approval_script(None, {"approve": False, "reason": "not allowed by client policy"}, {"allow": ["search"]})
    result = replay(script.build())
    assert [r.event["type"] for r in result.expected][:1] == ["conversation.item.create"]
    assert not any(p.event["type"] == "conversation.item.create" for p in result.produced)
    assert not [n for n in result.notices if isinstance(n.notice, ApprovalAnswered)]
    assert any("which the core did not produce" in m for m in result.mismatches)


def test_explicit_policy_overrides_the_header():
    script = approval_script(None, {"approve": True}, {"allow": ["search"]})
    assert not replay(script.build()).ok
    assert replay(script.build(), policy=ToolPolicy(allow={"search", "create_repo"})).ok


def function_script(result_line=True):
    script = Script().start([WEATHER_TOOL]).user_turn().created("resp_1")
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
            "arguments": '{"city":"Oslo"}'}
    script.output_item("resp_1", {**call, "arguments": ""}, done=False)
    script.server("response.function_call_arguments.done", response_id="resp_1", item_id="fc_1", output_index=0,
                  call_id="call_1", name="get_weather", arguments='{"city":"Oslo"}')
    script.output_item("resp_1", call)
    script.done("resp_1", output=[call])
    if result_line:
        script.local("function.result", call_id="call_1", output='{"temp": 3}', is_error=False)
    script.client("conversation.item.create",
                  item={"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 3}'})
    script.client("response.create")
    return script.spoken_answer("resp_2", "msg_a2")


def test_function_call_round_trip_takes_tools_from_the_recording():
    result = replay(function_script().build())
    assert result.ok, result.mismatches
    assert result.session.function_tools == {"get_weather"}
    assert [p.event["item"]["type"] for p in result.produced[:1]] == ["function_call_output"]


def test_function_tools_can_be_given():
    result = replay(function_script().build(), function_tools=())
    assert not result.ok  # the core answers the unknown tool with an error output at once
    assert any("function_call_output call_1 output='{\"error\"" in m for m in result.mismatches)


def barge_in_script(recorded_end_ms=420):
    script = Script().start().user_turn().created("resp_1")
    script.output_item("resp_1", {"type": "message", "role": "assistant", "id": "msg_a1", "content": []}, done=False)
    for _ in range(5):
        script.audio("resp_1", "msg_a1", 9600)  # 200 ms each
    script.server("input_audio_buffer.speech_started", item_id="item_u2", audio_start_ms=3000)
    script.local("playback.cleared", item_id="msg_a1", content_index=0, played_ms=420.7)
    script.client("conversation.item.truncate", item_id="msg_a1", content_index=0, audio_end_ms=recorded_end_ms)
    script.server("conversation.item.truncated", item_id="msg_a1", content_index=0, audio_end_ms=recorded_end_ms)
    return script.done("resp_1", status="cancelled", status_details={"type": "cancelled", "reason": "turn_detected"})


def test_barge_in_with_playback_cleared():
    result = replay(barge_in_script().build())
    assert result.ok, result.mismatches
    assert Truncated("msg_a1", 0, 420) in [n.notice for n in result.notices]
    assert result.session.audio_received_ms == {("msg_a1", 0): 1000.0}


def test_typed_text_and_a_manual_turn():
    script = Script().start()
    script.local("text.input", text="hello")
    script.client("conversation.item.create", item={"type": "message", "role": "user",
                                                    "content": [{"type": "input_text", "text": "hello"}]})
    script.client("response.create")
    script.spoken_answer("resp_1", "msg_a1")
    script.client("input_audio_buffer.append", audio="AAAA")
    script.client("input_audio_buffer.commit")
    script.client("input_audio_buffer.append", audio="AAAA")
    script.client("response.create")  # the app's own: right after its commit
    script.spoken_answer("resp_2", "msg_a2")
    result = replay(script.build())
    assert result.ok, result.mismatches
    assert [r.event["type"] for r in result.expected] == ["conversation.item.create", "response.create"]


def test_user_text_items_without_text_input_are_the_apps():
    script = Script().start()
    script.client("conversation.item.create", item={"type": "message", "role": "user",
                                                    "content": [{"type": "input_text", "text": "greet me"}]})
    script.client("response.create")
    script.spoken_answer("resp_1", "msg_a1")
    result = replay(script.build())
    assert result.ok and result.expected == [] and result.produced == []


def test_replay_from_a_file(tmp_path):
    path = tmp_path / "mcp.jsonl"
    script, _ = mcp_script()
    script.builder.save(path)
    from_path, from_transcript = replay(path), replay(read_transcript(path))
    assert from_path.ok and from_transcript.ok
    assert [n.notice for n in from_path.notices] == [n.notice for n in from_transcript.notices]
    assert from_path.notices[0].t > 0 and from_path.notices[0].lineno >= 2


# ---------------------------------------------------------------------------
# A wrong client is caught, naming the line


def test_missing_response_create_after_the_tool():
    script, done_line = mcp_script(recorded_creates=0)
    result = replay(script.build())
    assert result.mismatches == [
        f"line {done_line}: after this line the core produced response.create, missing from the recording"]


def test_duplicate_response_create():
    script, done_line = mcp_script(recorded_creates=2)
    result = replay(script.build())
    assert result.mismatches == [f"line {done_line + 2}: the recording has response.create, "
                                 "which the core did not produce (unexpected or duplicate)"]


def test_response_create_while_the_response_is_still_running():
    script = Script().start([MCP_TOOL]).user_turn().created("resp_1")
    script.output_item("resp_1", mcp_call(output="42"))
    early = script.client("response.create").line
    trigger = script.done("resp_1").line
    script.spoken_answer("resp_2", "msg_a2")
    result = replay(script.build())
    assert result.mismatches == [f"line {early}: response.create was sent before the core would send it "
                                 f"(after line {trigger})"]


def test_wrong_approval_answer():
    script = approval_script({"approve": False}, {"approve": True}, {"allow": ["search"]})
    result = replay(script.build())
    assert len(result.mismatches) == 1
    assert "the recording has conversation.item.create (mcp_approval_response mcpr_server_1 approve=True)" \
           " where the core produced conversation.item.create (mcp_approval_response mcpr_server_1 approve=False" \
           in result.mismatches[0]


def test_wrong_truncation_point():
    result = replay(barge_in_script(recorded_end_ms=1000).build())
    assert len(result.mismatches) == 1
    assert "(item_id=msg_a1 audio_end_ms=1000) where the core produced conversation.item.truncate " \
           "(item_id=msg_a1 audio_end_ms=420)" in result.mismatches[0]


def test_missing_function_output():
    script = Script().start([WEATHER_TOOL]).user_turn().created("resp_1")
    script.server("response.function_call_arguments.done", response_id="resp_1", item_id="fc_1", output_index=0,
                  call_id="call_1", name="get_weather", arguments="{}")
    script.output_item("resp_1", {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                                  "arguments": "{}", "status": "completed"})
    script.done("resp_1")
    result_line = script.local("function.result", call_id="call_1", output="{}", is_error=False).line
    result = replay(script.build())
    assert [m.split(":")[0] for m in result.mismatches] == [f"line {result_line}"] * 2
    assert "function_call_output call_1" in result.mismatches[0] and "response.create" in result.mismatches[1]


def test_illegal_app_event_is_reported():
    script = Script().start().user_turn().created("resp_1")
    script.client("input_audio_buffer.commit")
    line = script.client("response.create").line
    script.done("resp_1")
    result = replay(script.build())
    assert len(result.mismatches) == 1
    assert result.mismatches[0].startswith(f"line {line}: illegal response.create: response.create while the response slot is active")


def test_bad_local_line_is_reported():
    script = Script().start()
    line = script.local("approval.answer", approval_request_id="nope", approve=True).line
    result = replay(script.build())
    assert result.mismatches == [f"line {line}: illegal approval.answer: approval request 'nope' is not pending"]


# ---------------------------------------------------------------------------
# A misbehaving server, strict and not


def misbehaving_script():
    script = Script().start()
    line = script.audio("resp_9", "msg_a1", 480).line
    return script, line


def test_strict_replay_reports_a_misbehaving_server():
    script, line = misbehaving_script()
    result = replay(script.build())
    assert result.mismatches == [f"line {line}: the server broke the protocol: "
                                 "response.output_audio.delta for response 'resp_9', which is unknown"]
    assert result.session.audio_received_ms == {}  # the event was skipped


def test_lenient_replay_notes_a_misbehaving_server():
    script, line = misbehaving_script()
    result = replay(script.build(), strict=False)
    assert result.ok
    assert [(n.lineno, n.notice) for n in result.notices if isinstance(n.notice, ProtocolViolation)] == [
        (line, ProtocolViolation("response.output_audio.delta for response 'resp_9', which is unknown"))]


def test_undecodable_server_event():
    script = Script().start()
    line = script.server("response.created", response="not an object").line
    result = replay(script.build())
    assert len(result.mismatches) == 1
    assert result.mismatches[0].startswith(f"line {line}: undecodable server event: response.created:")
    assert "$.response" in result.mismatches[0]


def test_bad_header_policy(tmp_path):
    script, _ = mcp_script()
    transcript = script.build()
    transcript.header["policy"] = {"allow": "search"}
    with pytest.raises(TranscriptError, match=r"transcript:1: header 'policy': tool policy 'allow' must be a list"):
        replay(transcript)


def test_beta_transcripts_are_refused_for_now():
    with pytest.raises(TranscriptError, match="transcript:1: replay supports GA transcripts only.*'beta'"):
        replay(Script(api="beta").start().build())


# ---------------------------------------------------------------------------
# Recorded fixtures


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.jsonl")), ids=lambda p: p.name)
def test_fixture_replays_cleanly(path):
    result = replay(path)
    assert result.ok, "\n".join(result.mismatches)
    assert len(result.expected) == len(result.produced)
    assert not [n for n in result.notices if isinstance(n.notice, ProtocolViolation)]


@pytest.mark.parametrize("marked", [False, True], ids=["as-recorded", "with-by-timeout"])
def test_timeout_fixture_replays_who_answered(tmp_path, marked):
    # The fixture may predate "by" (then the timeout reads as a person's answer); with the
    # line marked as the driver now writes it, the same recording replays as a timeout.
    lines = (FIXTURES / "mcp_approval_timeout.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    (answer,) = [r["event"] for r in records if r.get("dir") == "local" and r["event"]["type"] == "approval.answer"]
    if marked:
        answer["by"] = "timeout"
    path = tmp_path / "timeout.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = replay(path)
    assert result.ok, result.mismatches
    expected_by = "timeout" if answer.get("by") == "timeout" else "person"
    assert [(a.approve, a.reason, a.by) for a in answers(result)] == [(False, "timed out", expected_by)]


def test_fixture_dir_is_a_real_path():
    # The parametrised test above silently runs zero cases if the glob finds nothing.
    assert FIXTURES.is_dir()
    assert json.loads(next(iter(sorted(FIXTURES.glob("*.jsonl")))).read_text().splitlines()[0])["rtproto"]
