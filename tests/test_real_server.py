"""Surviving the real server: the CLI against what the live Realtime API really does.

Each test runs the real ``python -m rtproto.run`` in a subprocess against a scripted local
server on 127.0.0.1 (:func:`rtproto.testing.serve_transcript` at ``speed="max"``) and checks
the exit code, what the person sees, what the server received and, where it matters, the
``--record`` transcript: a response the server starts just before our typed item, errors
without an ``event_id``, item kinds the model does not know, a function call cut off by a
barge-in, rate limits, an exhausted quota, transcriptions without ``usage``, and fields the
model lags behind on. Every wait is on a condition under a time limit, never a fixed sleep.

The client numbers its events ``evt_1``, ``evt_2``, ... in the order it sends them (the
session core's counter): ``session.update`` is ``evt_1``, the first typed line's
``conversation.item.create`` ``evt_2`` and its ``response.create`` ``evt_3``.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from cli_harness import (
    RATE, Conversation, fixture_deltas, received_of, recorded, run_cli, running, speech_like,
)
from rtproto import codec, server_errors
from rtproto.session import REQUEST_TIMEOUT_MS
from rtproto.testing import serve_transcript
from rtproto.transcript import read_transcript

pytestmark = pytest.mark.timeout(90)

FIRST_CREATE = "evt_3"  # the response.create of the first typed line
ALREADY = ("Conversation already has an active response in progress: resp_S. "
           "Wait until the response is finished before creating a new one.")
CLOSE_BY_CLIENT = {"type": "connection.closed", "code": 1000, "reason": "", "by": "client"}


def deltas() -> list[str]:
    return fixture_deltas("mcp_call.jsonl")[:1]  # real speech, kept short


def user_item(item_id: str, text: str) -> dict:
    return {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
            "content": [{"type": "input_text", "text": text}]}


def error(code: str | None, message: str, event_id: str | None, kind: str = "invalid_request_error") -> dict:
    return {"type": kind, "code": code, "message": message, "param": None, "event_id": event_id}


def failure(code: str, message: str, kind: str = "invalid_request_error") -> dict:
    return {"type": "failed", "error": {"type": kind, "code": code, "message": message}}


def shown_lines(out: str, prefix: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


def assert_clean(out: str, err: str) -> None:
    """Nothing crashed and nothing the server sent was taken for a broken frame or protocol."""
    assert "Traceback" not in err and "Traceback" not in out
    assert not shown_lines(out, "warning: skipped a malformed server frame"), out
    assert not shown_lines(out, "protocol: "), out


# -- a response the server started itself refuses our response.create -----------------------------


@pytest.mark.parametrize("order", [
    pytest.param("created-first", id="server-response-created-first"),
    pytest.param("refused-first", id="refused-while-requested"),
])
async def test_a_create_refused_by_the_servers_own_response_is_sent_again_once_it_is_done(
        tmp_path: Path, order: str) -> None:
    question, answer = "What's the weather in Paris?", "It is sunny and 18 degrees in Paris."
    script = Conversation().session().expect("conversation.item.create")
    if order == "created-first":  # server VAD started a response just before our typed item was added
        script.response_created("resp_S")
        script.server("conversation.item.added", item=user_item("item_U1", question))
        script.expect("response.create")
        script.server("error", error=error(server_errors.ALREADY_ACTIVE, ALREADY, FIRST_CREATE))
    else:  # the refusal comes first; the running response announces itself after it
        script.server("conversation.item.added", item=user_item("item_U1", question))
        script.expect("response.create")
        script.server("error", error=error(server_errors.ALREADY_ACTIVE, ALREADY, FIRST_CREATE))
        script.response_created("resp_S")
    script.message_started("resp_S", "item_S").message_audio("resp_S", "item_S", deltas(), "Mm-hm.")
    script.message_done("resp_S", "item_S", "Mm-hm.")
    script.expect("response.create")
    script.answer("resp_T", "item_T", deltas(), answer).close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
                                       cwd=tmp_path, stdin=f"{question}\n", timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert f"[server: {server_errors.ALREADY_ACTIVE}: {ALREADY} (caused by our response.create)]" in out
    assert f"assistant ▸ {answer}\n" in out  # the typed turn was answered ...
    creates = received_of(server.received, "response.create")
    assert len(creates) == 2, out  # ... by exactly one more response.create
    assert len(received_of(server.received, "conversation.item.create")) == 1
    client, _, _ = recorded(tmp_path / "rec.jsonl")
    assert [e["event_id"] for e in received_of(client, "response.create")][0] == FIRST_CREATE


# -- an error without event_id answers our response.create -------------------------------------------


async def test_an_error_without_event_id_ends_the_wait_and_the_next_line_is_answered(tmp_path: Path) -> None:
    first, second = "What's the weather in Paris?", "And in Oslo?"
    answer = "It is 4 degrees in Oslo."
    message = "The request could not be processed."
    script = (Conversation().session().expect("conversation.item.create").expect("response.create")
              .server("error", error=error("invalid_value", message, None))
              .expect("conversation.item.create").expect("response.create")
              .answer("resp_2", "item_2", deltas(), answer).close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
                                       cwd=tmp_path, stdin=f"{first}\n{second}\n", timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert f"! server error invalid_value: {message} (caused by our response.create)" in out
    assert "no answer to our response.create" not in out
    assert f"assistant ▸ {answer}\n" in out
    typed = [e["item"]["content"][0]["text"] for e in received_of(server.received, "conversation.item.create")]
    assert typed == [first, second]
    assert len(received_of(server.received, "response.create")) == 2
    # The second line went out when the error came, not when a timeout gave up waiting.
    lines = read_transcript(tmp_path / "rec.jsonl").lines
    error_t = next(line.t for line in lines if line.dir == "server" and line.event["type"] == "error")
    second_t = [line.t for line in lines if line.dir == "client"
                and line.event["type"] == "conversation.item.create"][1]
    assert second_t - error_t < REQUEST_TIMEOUT_MS / 2


# -- an item kind the model does not know ---------------------------------------------------------------

REASONING = {"id": "rs_1", "object": "realtime.item", "type": "reasoning", "summary": [],
             "encrypted_content": None}


def message_with_reasoning(script: Conversation, rid: str, item_id: str, text: str) -> Conversation:
    """A response whose output is a reasoning item, then a spoken message."""
    script.response_created(rid)
    script.server("response.output_item.added", response_id=rid, output_index=0, item=REASONING)
    script.server("response.output_item.done", response_id=rid, output_index=0, item=REASONING)
    item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
            "role": "assistant", "content": []}
    ids = {"response_id": rid, "item_id": item_id, "output_index": 1, "content_index": 0}
    script.server("response.output_item.added", response_id=rid, output_index=1, item=item)
    script.server("response.content_part.added", **ids, part={"type": "audio", "transcript": ""})
    script.server("response.output_audio_transcript.delta", **ids, delta=text)
    for delta in deltas():
        script.server("response.output_audio.delta", **ids, delta=delta)
    done = {**item, "status": "completed", "content": [{"type": "output_audio", "transcript": text}]}
    (script.server("response.output_audio.done", **ids)
     .server("response.output_audio_transcript.done", **ids, transcript=text)
     .server("response.content_part.done", **ids, part={"type": "audio", "transcript": text})
     .server("response.output_item.done", response_id=rid, output_index=1, item=done)
     .server("conversation.item.done", item=done))
    return script.response_done(rid, [REASONING, done])


async def test_an_unknown_item_kind_ends_its_response_and_the_next_turn_works(tmp_path: Path) -> None:
    first, second = "Think about it: is 91 prime?", "And 97?"
    answers = ["No, 91 is 7 times 13.", "Yes, 97 is prime."]
    script = Conversation().session().expect("conversation.item.create").expect("response.create")
    message_with_reasoning(script, "resp_1", "item_1", answers[0])
    script.expect("conversation.item.create").expect("response.create")
    script.answer("resp_2", "item_2", deltas(), answers[1]).close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "a.wav",
                                       cwd=tmp_path, stdin=f"{first}\n{second}\n", timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert "reasoning" not in out + err
    for answer in answers:
        assert f"assistant ▸ {answer}\n" in out
    assert len(received_of(server.received, "response.create")) == 2
    assert "turns: 2" in out


# -- a barge-in cuts off a function call ---------------------------------------------------------------

PROBE = '''\
from pathlib import Path


def get_weather(city: str) -> dict:
    """Get the current weather in a city."""
    with open(Path(__file__).with_name("calls.txt"), "a") as calls:
        calls.write(city + "\\n")
    return {"city": city, "temperature_c": 4}
'''


def call_item(item_id: str, call_id: str, status: str, arguments: str) -> dict:
    return {"id": item_id, "object": "realtime.item", "type": "function_call", "status": status,
            "name": "get_weather", "call_id": call_id, "arguments": arguments}


def completed_call_turn(script: Conversation, rid: str, item_id: str, call_id: str, arguments: str) -> Conversation:
    started, done = call_item(item_id, call_id, "in_progress", ""), call_item(item_id, call_id, "completed", arguments)
    ids = {"response_id": rid, "item_id": item_id, "output_index": 0, "call_id": call_id}
    return (script.response_created(rid)
            .server("response.output_item.added", response_id=rid, output_index=0, item=started)
            .server("conversation.item.added", item=started)
            .server("response.function_call_arguments.delta", **ids, delta=arguments)
            .server("response.function_call_arguments.done", **ids, name="get_weather", arguments=arguments)
            .server("response.output_item.done", response_id=rid, output_index=0, item=done)
            .server("conversation.item.done", item=done)
            .response_done(rid, [done]))


@pytest.mark.parametrize(("status", "arguments", "why"), [
    ("incomplete", '{"city": "Par', "the call is incomplete"),  # cut mid-arguments
    ("completed", '{"city":"Paris"}', "response cancelled"),  # whole, but its response was cancelled
], ids=["incomplete-call", "completed-call-cancelled-response"])
async def test_a_function_call_cut_off_by_barge_in_is_never_run_or_answered(tmp_path: Path, status: str,
                                                                           arguments: str, why: str) -> None:
    (tmp_path / "probe_weather.py").write_text(PROBE)
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    partial = arguments
    started, cut = call_item("item_F1", "call_F1", "in_progress", ""), call_item("item_F1", "call_F1", status,
                                                                                partial)
    ids = {"response_id": "resp_F", "item_id": "item_F1", "output_index": 0, "call_id": "call_F1"}
    script = (Conversation().session().response_created("resp_F")
              .server("response.output_item.added", response_id="resp_F", output_index=0, item=started)
              .server("conversation.item.added", item=started)
              .server("response.function_call_arguments.delta", **ids, delta=partial)
              .server("input_audio_buffer.speech_started", audio_start_ms=1200, item_id="item_U2")
              .server("response.output_item.done", response_id="resp_F", output_index=0, item=cut)
              .server("conversation.item.done", item=cut)
              .response_done("resp_F", [cut], "cancelled", {"type": "cancelled", "reason": "turn_detected"})
              .server("input_audio_buffer.speech_stopped", audio_end_ms=1900, item_id="item_U2"))
    # Then the user asks again and the call completes: the tool runs for this one only.
    completed_call_turn(script, "resp_G", "item_F2", "call_F2", '{"city":"Oslo"}')
    script.expect("conversation.item.create").expect("response.create")
    script.answer("resp_H", "item_H", deltas(), "It is 4 degrees in Oslo.").close(1000)
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav",
                                       "--function", "probe_weather:get_weather", "--record", "rec.jsonl",
                                       cwd=tmp_path, timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert (tmp_path / "calls.txt").read_text() == "Oslo\n"  # never called with the cut-off arguments
    outputs = [e["item"] for e in received_of(server.received, "conversation.item.create")]
    assert [(o["type"], o["call_id"]) for o in outputs] == [("function_call_output", "call_F2")]
    assert len(received_of(server.received, "response.create")) == 1  # the follow-up of call_F2 only
    assert f"⚙ function get_weather({partial})" in out
    assert f"  ↳ get_weather: error: not run: {why}" in out
    assert "[response cancelled: turn_detected]" in out
    assert "assistant ▸ It is 4 degrees in Oslo.\n" in out
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert [e["call_id"] for e in local if e["type"] == "function.result"] == ["call_F2"]


# -- rate limits and an exhausted quota -----------------------------------------------------------------

RATE_LIMITED = ("Rate limit reached for gpt-realtime in organization org-123 on tokens per min (TPM). "
                "Please try again in 1.5s.")


async def test_a_rate_limited_response_is_shown_and_retried_after_the_wait_asked_for(tmp_path: Path) -> None:
    question, answer = "What's the weather in Paris?", "It is sunny in Paris."
    script = (Conversation().session().expect("conversation.item.create").expect("response.create")
              .response_created("resp_1")
              .response_done("resp_1", [], "failed", failure("rate_limit_exceeded", RATE_LIMITED))
              .expect("response.create")
              .answer("resp_2", "item_2", deltas(), answer).close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
                                       cwd=tmp_path, stdin=f"{question}\n", timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert f"[response failed: invalid_request_error rate_limit_exceeded: {RATE_LIMITED}]" in out
    assert f"[rate_limit_exceeded: trying again in 1.5 s (1 of {server_errors.MAX_RETRIES})]" in out
    assert f"assistant ▸ {answer}\n" in out
    assert out.index("trying again") < out.index(answer)
    assert len(received_of(server.received, "response.create")) == 2
    lines = read_transcript(tmp_path / "rec.jsonl").lines
    failed_t = next(line.t for line in lines if line.dir == "server" and line.event["type"] == "response.done")
    retry_t = [line.t for line in lines if line.dir == "client" and line.event["type"] == "response.create"][1]
    assert retry_t - failed_t >= 1500 - 1  # not before the wait the server asked for (t is rounded to 0.1 ms)


QUOTA = "You exceeded your current quota, please check your plan and billing details."


@pytest.mark.parametrize("stdin_open", [True, False], ids=["typing-on", "input-ended"])
@pytest.mark.parametrize("where", ["response.done", "error"])
async def test_an_exhausted_quota_ends_the_cli_with_exit_1_and_the_servers_message(
        tmp_path: Path, where: str, stdin_open: bool) -> None:
    script = Conversation().session().expect("conversation.item.create").expect("response.create")
    if where == "response.done":
        script.response_created("resp_1").response_done("resp_1", [], "failed",
                                                        failure("insufficient_quota", QUOTA, "insufficient_quota"))
    else:
        script.server("error", error=error("insufficient_quota", QUOTA, FIRST_CREATE, "insufficient_quota"))
    script.expect("response.create")  # never comes: the conversation is over
    async with serve_transcript(script.script, speed="max") as server:
        async with running("--url", server.url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
                           cwd=tmp_path) as cli:
            cli.write("Hello?")
            if not stdin_open:
                cli.close_stdin()
            code = await cli.wait(timeout=30)
    assert code == 1, cli.screen()
    assert "Traceback" not in cli.stderr
    [message] = shown_lines(cli.stderr, "error: ")
    assert QUOTA in message and "insufficient_quota" in message
    assert len(received_of(server.received, "response.create")) == 1
    _, _, local = recorded(tmp_path / "rec.jsonl")
    assert local[-1] == CLOSE_BY_CLIENT


# -- what real servers send that the SDK's types lag behind on -------------------------------------------


async def test_a_transcription_without_usage_still_shows_the_users_words(tmp_path: Path) -> None:
    codec.write_wav(tmp_path / "q.wav", speech_like(0.2), RATE)
    words = "What's the weather in Paris?"
    answer = "It is sunny in Paris."
    script = (Conversation().session()
              .server("input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_U1")
              .server("input_audio_buffer.speech_stopped", audio_end_ms=900, item_id="item_U1")
              .server("input_audio_buffer.committed", item_id="item_U1", previous_item_id=None)
              .server("conversation.item.input_audio_transcription.completed", item_id="item_U1",
                      content_index=0, transcript=words)  # no usage, as some servers send it
              .answer("resp_1", "item_1", deltas(), answer).close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--input", "q.wav", "--output", "a.wav",
                                       cwd=tmp_path, timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert f"you ▸ {words}\n" in out
    assert out.index(f"you ▸ {words}") < out.index(f"assistant ▸ {answer}")


# Frames as a real server writes them, each with its own spacing and escapes: a recorder that
# re-serialised them would not keep these bytes.
OBFUSCATED_TEXT = ('{"type": "response.output_audio_transcript.delta", "event_id": "event_D1", '
                   '"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0, '
                   '"delta": "Sunny \\u00e9t\\u00e9.", "obfuscation": "Qx7\\u00e9a"}')
RETRIEVED = ('{"type":"conversation.item.retrieved","event_id":"event_R1","item":{"id":"item_1",'
             '"object":"realtime.item","type":"message","status":"completed","role":"assistant",'
             '"content":[{"type":"output_audio","transcript":"Sunny \\u00e9t\\u00e9.","format":"pcm16"}]}}')


def obfuscated_audio(delta: str) -> str:
    return ('{ "type":"response.output_audio.delta", "event_id":"event_D2", "response_id":"resp_1", '
            f'"item_id":"item_1", "output_index":0, "content_index":0, "delta":"{delta}", "obfuscation":"zZ" }}')


async def test_fields_the_model_lags_behind_on_are_recorded_byte_for_byte_and_checked(tmp_path: Path) -> None:
    text = "Sunny été."
    audio = obfuscated_audio(deltas()[0])
    script = (Conversation().session().expect("conversation.item.create").expect("response.create")
              .response_created("resp_1").message_started("resp_1", "item_1")
              .raw(OBFUSCATED_TEXT).raw(audio)
              .message_done("resp_1", "item_1", text)
              .raw(RETRIEVED).close(1000))
    async with serve_transcript(script.script, speed="max") as server:
        code, out, err = await run_cli("--url", server.url, "--text", "--output", "a.wav", "--record", "rec.jsonl",
                                       cwd=tmp_path, stdin="How is the weather?\n", timeout=30)
    assert code == 0, out + err
    assert_clean(out, err)
    assert f"assistant ▸ {text}\n" in out  # the obfuscated deltas were read as deltas
    answer, _ = codec.read_wav(tmp_path / "a.wav")
    assert len(answer) == len(codec.b64_to_pcm16(deltas()[0]))
    data = (tmp_path / "rec.jsonl").read_bytes()
    rows = data.splitlines()
    for frame in (OBFUSCATED_TEXT, audio, RETRIEVED):
        [row] = [row for row in rows if frame.encode() in row]  # as received, byte for byte
        assert row.endswith(b',"event":' + frame.encode() + b"}")
    retrieved_line = next(n for n, row in enumerate(rows, 1) if b"conversation.item.retrieved" in row)

    code, report, check_err = await run_cli("check", "rec.jsonl", cwd=tmp_path)
    assert code == 1, report + check_err  # findings, not bad input
    findings = [line for line in report.splitlines() if line.startswith("rec.jsonl:")][:-1]
    assert findings == [f"rec.jsonl:{retrieved_line}: warning: conversation.item.retrieved: unknown field at "
                        "$.item.content[0].format [unknown-field]"], report
    # obfuscation on deltas is in the model (real servers send it): read as it is, no finding
    code, report, _ = await run_cli("check", "--json", "rec.jsonl", cwd=tmp_path)
    [finding] = orjson.loads(report)["findings"]
    assert (finding["line"], finding["severity"], finding["code"], finding["path"]) == \
        (retrieved_line, "warning", "unknown-field", "$.item.content[0].format")
    assert json.loads(rows[retrieved_line - 1])["event"]["item"]["content"][0]["format"] == "pcm16"

