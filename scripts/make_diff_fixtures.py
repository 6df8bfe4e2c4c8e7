"""Write the small transcripts under tests/fixtures/diff/ used by the diff and check tests.

    python scripts/make_diff_fixtures.py [--out DIR]

Each file is one scripted session (no network), deterministic for its seed:

- ``ga_weather.jsonl``: GA; setup, a spoken question, a spoken question answered
  through the function tool ``get_weather`` (client sends the output and
  ``response.create``), a typed question.
- ``ga_weather_rerun.jsonl``: the same scenario with other ids, event ids,
  timestamps and audio bytes (same lengths), and 150 ms more latency per turn.
- ``beta_weather.jsonl``: the same scenario in beta shapes (the retired beta event names and session shape):
  flat session, ``response.audio.delta`` and friends, ``conversation.item.created``
  instead of ``.added``/``.done``, no ``name`` in ``function_call_arguments.done``.
- ``ga_mcp_auto.jsonl`` / ``ga_mcp_client.jsonl``: GA with a remote MCP tool; after the
  ``mcp_call`` the server continues on its own, or the client sends ``response.create``.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtproto.transcript import Transcript  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "diff"
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
MCP_TOOL = {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp", "require_approval": "never"}


class Capture:
    """Builds one transcript: ids, event ids and audio from a seeded RNG, ``t`` from a clock."""

    def __init__(self, api: str, seed: int, extra_latency_ms: float = 0.0):
        self.api = api
        self.rng = random.Random(seed)
        self.extra_latency_ms = extra_latency_ms
        self.t = 0.0
        self.lines: list[tuple[float, str, dict[str, Any]]] = []
        self.session_id = self.token("sess_")

    # -- primitives

    def token(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", k=20))

    def audio(self, ms: int) -> str:
        return base64.b64encode(self.rng.randbytes(ms * 48)).decode()  # pcm16, 24 kHz

    def wait(self, ms: float) -> None:
        self.t = round(self.t + ms + self.rng.uniform(0.0, 3.0), 1)

    def server(self, etype: str, **fields: Any) -> None:
        self.wait(2)
        self.lines.append((self.t, "server", {"type": etype, "event_id": self.token("event_"), **fields}))

    def client(self, etype: str, **fields: Any) -> None:
        self.wait(1)
        self.lines.append((self.t, "client", {"type": etype, "event_id": self.token("evt_"), **fields}))

    def local(self, etype: str, **fields: Any) -> None:
        self.lines.append((self.t, "local", {"type": etype, **fields}))

    def save(self, path: Path) -> None:
        header = {"api": self.api, "url": "wss://api.openai.com/v1/realtime?model=gpt-realtime",
                  "model": "gpt-realtime" if self.api == "ga" else "gpt-4o-realtime-preview",
                  "started_at": "2025-09-01T12:00:00.000Z", "scenario": path.stem}
        Transcript.from_events(header, self.lines).save(path)

    # -- version-dependent shapes

    @property
    def beta(self) -> bool:
        return self.api == "beta"

    def session(self, tools: list[dict[str, Any]], transcription: bool) -> dict[str, Any]:
        if self.beta:
            return {
                "id": self.session_id, "object": "realtime.session", "model": "gpt-4o-realtime-preview",
                "expires_at": 1756731600, "modalities": ["audio", "text"], "instructions": "Be brief.",
                "voice": "alloy", "input_audio_format": "pcm16", "output_audio_format": "pcm16",
                "input_audio_transcription": {"model": "whisper-1"} if transcription else None,
                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                   "silence_duration_ms": 500, "create_response": True, "interrupt_response": True},
                "tools": tools, "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf",
            }
        fmt = {"type": "audio/pcm", "rate": 24000}
        return {
            "type": "realtime", "id": self.session_id, "object": "realtime.session", "model": "gpt-realtime",
            "expires_at": 1756731600, "output_modalities": ["audio"], "instructions": "Be brief.",
            "audio": {
                "input": {"format": fmt, "transcription": {"model": "gpt-4o-transcribe"} if transcription else None,
                          "noise_reduction": None,
                          "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                             "silence_duration_ms": 500, "idle_timeout_ms": None,
                                             "create_response": True, "interrupt_response": True}},
                "output": {"format": fmt, "voice": "marin", "speed": 1.0},
            },
            "tools": tools, "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None, "truncation": "auto",
        }

    def session_update(self, tools: list[dict[str, Any]]) -> dict[str, Any]:
        if self.beta:
            return {"instructions": "Be brief.", "input_audio_transcription": {"model": "whisper-1"}, "tools": tools}
        return {"type": "realtime", "instructions": "Be brief.",
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}, "tools": tools}

    def item_announced(self, item: dict[str, Any], final: dict[str, Any] | None = None) -> None:
        """Beta: conversation.item.created; GA: conversation.item.added (+ .done when final is given)."""
        if self.beta:
            self.server("conversation.item.created", previous_item_id=None, item=item)
            return
        self.server("conversation.item.added", previous_item_id=None, item=item)
        if final is not None:
            self.server("conversation.item.done", previous_item_id=None, item=final)

    def item_done(self, item: dict[str, Any]) -> None:
        if not self.beta:
            self.server("conversation.item.done", previous_item_id=None, item=item)

    def name(self, ga: str) -> str:
        beta = {"response.output_audio.delta": "response.audio.delta", "response.output_audio.done": "response.audio.done",
                "response.output_audio_transcript.delta": "response.audio_transcript.delta",
                "response.output_audio_transcript.done": "response.audio_transcript.done"}
        return beta.get(ga, ga) if self.beta else ga

    def response_object(self, rid: str, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        usage = None if status == "in_progress" else {
            "total_tokens": 120, "input_tokens": 80, "output_tokens": 40,
            "input_token_details": {"text_tokens": 60, "audio_tokens": 20, "cached_tokens": 0},
            "output_token_details": {"text_tokens": 10, "audio_tokens": 30}}
        common = {"id": rid, "object": "realtime.response", "status": status, "status_details": None,
                  "output": output, "usage": usage, "metadata": None}
        if self.beta:
            return {**common, "modalities": ["audio", "text"], "voice": "alloy", "output_audio_format": "pcm16",
                    "temperature": 0.8, "max_output_tokens": "inf"}
        return {**common, "conversation_id": "conv_1", "output_modalities": ["audio"], "max_output_tokens": "inf",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}}}

    # -- scenario pieces

    def setup(self, tools: list[dict[str, Any]]) -> None:
        self.server("session.created", session=self.session([], transcription=False))
        self.client("session.update", session=self.session_update(tools))
        self.server("session.updated", session=self.session(tools, transcription=True))

    def speech(self, transcript: str) -> None:
        for _ in range(2):
            self.wait(20)
            self.client("input_audio_buffer.append", audio=self.audio(10))
        item_id = self.token("item_")
        self.server("input_audio_buffer.speech_started", audio_start_ms=40, item_id=item_id)
        for _ in range(3):
            self.wait(20)
            self.client("input_audio_buffer.append", audio=self.audio(10))
        self.server("input_audio_buffer.speech_stopped", audio_end_ms=600, item_id=item_id)
        self.server("input_audio_buffer.committed", previous_item_id=None, item_id=item_id)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        self.item_announced(item, item)
        self.pending_transcript = (item_id, transcript)

    def text(self, text: str) -> None:
        self.local("text.input", text=text)
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        self.client("conversation.item.create", item=item)
        server_item = {"id": self.token("item_"), "object": "realtime.item", "status": "completed", **item}
        self.item_announced(server_item, server_item)
        self.client("response.create")

    def transcription(self) -> None:
        item_id, transcript = self.pending_transcript
        usage = {"type": "tokens", "input_tokens": 12, "output_tokens": 6, "total_tokens": 18}
        self.server("conversation.item.input_audio_transcription.completed", item_id=item_id, content_index=0,
                    transcript=transcript, usage=usage)

    def response_start(self, latency_ms: float) -> str:
        rid = self.token("resp_")
        self.wait(latency_ms / 4)
        self.server("response.created", response=self.response_object(rid, "in_progress", []))
        self.server("rate_limits.updated", rate_limits=[
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5}])
        return rid

    def spoken_answer(self, rid: str, words: list[str], latency_ms: float, transcribe: bool = False) -> None:
        item_id = self.token("item_")
        ids = {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}
        part_type, content_type = ("audio", "audio") if self.beta else ("audio", "output_audio")
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                "role": "assistant", "content": []}
        self.server("response.output_item.added", response_id=rid, output_index=0, item=item)
        self.item_announced(item)
        if transcribe:
            self.transcription()
        self.server("response.content_part.added", part={"type": part_type, "transcript": ""}, **ids)
        self.wait(latency_ms * 3 / 4 + self.extra_latency_ms)
        for word in words:
            self.server(self.name("response.output_audio_transcript.delta"), delta=word + " ", **ids)
            self.server(self.name("response.output_audio.delta"), delta=self.audio(10), **ids)
        text = " ".join(words)
        self.server(self.name("response.output_audio.done"), **ids)
        self.server(self.name("response.output_audio_transcript.done"), transcript=text, **ids)
        self.server("response.content_part.done", part={"type": part_type, "transcript": text}, **ids)
        done = {**item, "status": "completed", "content": [{"type": content_type, "transcript": text}]}
        self.server("response.output_item.done", response_id=rid, output_index=0, item=done)
        self.item_done(done)
        self.server("response.done", response=self.response_object(rid, "completed", [done]))

    def function_call(self, rid: str) -> str:
        item_id, call_id = self.token("item_"), self.token("call_")
        item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                "name": "get_weather", "call_id": call_id, "arguments": ""}
        self.server("response.output_item.added", response_id=rid, output_index=0, item=item)
        self.item_announced(item)
        self.transcription()
        ids = {"response_id": rid, "item_id": item_id, "output_index": 0, "call_id": call_id}
        self.server("response.function_call_arguments.delta", delta='{"city":', **ids)
        self.server("response.function_call_arguments.delta", delta='"Paris"}', **ids)
        name = {} if self.beta else {"name": "get_weather"}
        self.server("response.function_call_arguments.done", arguments='{"city":"Paris"}', **ids, **name)
        done = {**item, "status": "completed", "arguments": '{"city":"Paris"}'}
        self.server("response.output_item.done", response_id=rid, output_index=0, item=done)
        self.item_done(done)
        self.server("response.done", response=self.response_object(rid, "completed", [done]))
        return call_id

    def function_output(self, call_id: str) -> None:
        output = '{"temp_c": 21, "sky": "clear"}'
        self.wait(30)
        self.local("function.result", call_id=call_id, output=output, is_error=False)
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        self.client("conversation.item.create", item=item)
        server_item = {"id": self.token("item_"), "object": "realtime.item", **item}
        self.item_announced(server_item, server_item)
        self.client("response.create")

    def mcp_list_tools(self) -> None:
        item_id = self.token("mcpl_")
        self.server("conversation.item.added", item={"id": item_id, "type": "mcp_list_tools",
                                                     "server_label": "deepwiki", "tools": []})
        self.server("mcp_list_tools.in_progress", item_id=item_id)
        self.wait(200)
        self.server("mcp_list_tools.completed", item_id=item_id)
        tools = [{"name": "ask_question", "description": "Ask about a GitHub repository.",
                  "input_schema": {"type": "object", "properties": {"repoName": {"type": "string"},
                                                                    "question": {"type": "string"}}}}]
        self.server("conversation.item.done", item={"id": item_id, "type": "mcp_list_tools",
                                                    "server_label": "deepwiki", "tools": tools})

    def mcp_call(self, rid: str) -> None:
        item_id = self.token("mcp_")
        args = '{"repoName":"python/cpython","question":"What is the GIL?"}'
        item = {"id": item_id, "type": "mcp_call", "server_label": "deepwiki", "name": "ask_question",
                "arguments": ""}
        self.server("response.output_item.added", response_id=rid, output_index=0, item=item)
        self.item_announced(item)
        self.transcription()
        self.server("response.mcp_call_arguments.delta", response_id=rid, item_id=item_id, output_index=0, delta=args)
        self.server("response.mcp_call_arguments.done", response_id=rid, item_id=item_id, output_index=0, arguments=args)
        self.server("response.mcp_call.in_progress", item_id=item_id, output_index=0)
        self.wait(400)
        self.server("response.mcp_call.completed", item_id=item_id, output_index=0)
        done = {**item, "arguments": args, "output": "The GIL is a mutex that ...", "error": None}
        self.server("response.output_item.done", response_id=rid, output_index=0, item=done)
        self.item_done(done)
        self.server("response.done", response=self.response_object(rid, "completed", [done]))


def weather(api: str, seed: int, extra_latency_ms: float = 0.0) -> Capture:
    """The weather scenario: a question, a tool-backed question, a typed question."""
    c = Capture(api, seed, extra_latency_ms)
    c.setup([WEATHER_TOOL])
    c.speech("Hello there.")
    c.spoken_answer(c.response_start(400), ["Hi!", "How", "can", "I", "help?"], 400, transcribe=True)
    c.speech("What's the weather in Paris?")
    call_id = c.function_call(c.response_start(400))
    c.function_output(call_id)
    c.spoken_answer(c.response_start(300), ["It", "is", "21", "degrees", "and", "clear."], 300)
    c.text("Thanks!")
    c.spoken_answer(c.response_start(350), ["You're", "welcome."], 350)
    return c


def mcp(client_continues: bool, seed: int) -> Capture:
    """A spoken question answered through a remote MCP tool; who starts the follow-up response differs."""
    c = Capture("ga", seed)
    c.setup([MCP_TOOL])
    c.mcp_list_tools()
    c.speech("What is the GIL in CPython?")
    c.mcp_call(c.response_start(400))
    if client_continues:
        c.client("response.create")
    c.spoken_answer(c.response_start(300), ["It", "is", "a", "global", "lock."], 300)
    return c


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURES, help=f"directory to write to (default {FIXTURES})")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    captures = {
        "ga_weather": weather("ga", seed=1),
        "ga_weather_rerun": weather("ga", seed=2, extra_latency_ms=150.0),
        "beta_weather": weather("beta", seed=3),
        "ga_mcp_auto": mcp(client_continues=False, seed=4),
        "ga_mcp_client": mcp(client_continues=True, seed=5),
    }
    for name, capture in captures.items():
        capture.save(out / f"{name}.jsonl")
        print(f"wrote {out / name}.jsonl ({len(capture.lines)} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
