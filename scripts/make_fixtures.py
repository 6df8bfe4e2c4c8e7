"""Synthesise the GA session transcripts used by the replay tests and the offline demo.

    python scripts/make_fixtures.py            # (re)write the files below
    python scripts/make_fixtures.py --check    # regenerate in memory, exit 1 if a file differs

Writes ``tests/fixtures/{mcp_call, mcp_approval_approved, mcp_approval_denied,
mcp_approval_timeout, function_call, barge_in}.jsonl`` and ``rtproto/data/demo.jsonl``
(a copy of ``mcp_approval_approved.jsonl``). Regenerating needs ``espeak-ng`` and
``sox`` on the PATH; the tests only read the committed files. Nothing is cached:
audio goes through pipes, never through files.

These transcripts are *synthesised* (header ``"synthesised": true``), not captured:
every event follows the documented GA protocol (the event model in
``rtproto.events``), and the audio is real speech, so the files look like a
recording of a real session. Their header also names the espeak-ng and sox
versions used (``"generator"``). The conventions they follow:

* Speech: the user speaks with espeak-ng's ``en-gb`` voice, the assistant with
  ``en-us``; sox resamples both to 24 kHz mono PCM16 (``-R -D``: no dither,
  repeatable) and each utterance is trimmed to its speech.
* Microphone: ``input_audio_buffer.append`` frames of 100 ms, sent in real
  time (a frame leaves when its last sample was captured). The client is
  half-duplex: it streams from shortly before the user speaks until the server
  commits the turn, and sends nothing while the assistant has the floor. In
  ``barge_in`` (headphones, full-duplex) the microphone stays open from the
  first turn to the end, so the user can interrupt.
* Server VAD (``prefix_padding_ms`` 300, ``silence_duration_ms`` 500):
  ``speech_started.audio_start_ms`` = speech onset - 300 and
  ``speech_stopped.audio_end_ms`` = speech end + 500, in ms of all audio
  appended in the session; each event arrives 30-35 ms after the append that
  holds the audio it reports.
* Output audio: 200 ms ``response.output_audio.delta`` frames, one every 80 ms
  (2.5x real time); the transcript deltas (one per word) run ahead of the
  audio. The client plays from the first delta on, so at time ``t`` it has
  played ``t - t(first delta)`` ms.
* Tokens: text about 1 per 4 characters, input audio 1 per 100 ms, output
  audio 1 per 50 ms; a response's cached tokens are the previous response's
  input rounded down to a multiple of 64.
* Tools: the client sends ``response.create`` after a response that ended
  with a tool call (MCP or function). An approval is asked when the
  ``mcp_approval_request``'s ``conversation.item.done`` arrives; a timeout
  answer comes exactly 30000 ms later.
* Ids: server ids look like the API's (``event_``, ``item_``, ``resp_``,
  ``sess_``, ``conv_``, ``call_``, ``mcp_``, ``mcpl_``, ``mcpr_`` + random
  letters and digits) and come from ``random.Random(<scenario name>)``; client
  event ids are ``evt_1``, ``evt_2``, ... Same output on every run (given the
  same espeak-ng and sox).
"""

from __future__ import annotations

import argparse
import copy
import functools
import io
import math
import random
import re
import string
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rtproto.codec import pcm16_to_b64  # noqa: E402
from rtproto.events import UnknownEvent, decode_client, decode_server, to_dict  # noqa: E402
from rtproto.transcript import TranscriptWriter, read_transcript  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
DEMO = ROOT / "rtproto" / "data" / "demo.jsonl"
DEMO_SOURCE = "mcp_approval_approved"

RATE = 24000
PER_MS = RATE // 1000
MIC_FRAME_MS = 100
DELTA_MS = 200
DELTA_EVERY_MS = 80.0
PREFIX_PADDING_MS = 300
SILENCE_MS = 500
HEARD_AFTER_MS = 60  # server VAD reports speech_started once it has 60 ms of speech ...
VAD_LATENCY_MS = 35.0  # ... 35 ms after the append that holds it arrived
SPEECH_RMS = 300.0  # a 10 ms frame above this RMS counts as speech
USER_VOICE = ("en-gb", 160)
ASSISTANT_VOICE = ("en-us", 165)

MODEL = "gpt-realtime"
URL = f"wss://api.openai.com/v1/realtime?model={MODEL}"
STARTED_AT = "2026-11-25T10:00:00Z"
EXPIRES_AT = int(datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc).timestamp())
PCM = {"type": "audio/pcm", "rate": RATE}
VOICE = "marin"
INSTRUCTIONS = "You are a helpful voice assistant. Be brief."
DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. Act like a human, "
    "but remember that you aren't a human and that you can't do human things in the real world."
)
TRANSCRIBE_MODEL = "gpt-4o-mini-transcribe"
GITHUB_URL = "https://api.githubcopilot.com/mcp/"
ALLOW = ["get_latest_release", "list_issues", "search_repositories"]
ASK = ["create_repository"]
NO_POLICY = {"allow": [], "ask": []}
ID_ALPHABET = string.ascii_letters + string.digits

# ---------------------------------------------------------------------------
# Speech


_speech_cache: dict[tuple[str, tuple[str, int]], np.ndarray] = {}


def _run(args: list[str], data: bytes | None = None) -> bytes:
    try:
        return subprocess.run(args, input=data, capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise SystemExit(f"make_fixtures: {args[0]} is not installed (regenerating needs espeak-ng and sox)") from None
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"make_fixtures: {args[0]} failed: {exc.stderr.decode(errors='replace')[-400:]}") from None


def speech_frames(pcm: np.ndarray) -> np.ndarray:
    """Indices of the 10 ms frames of ``pcm`` that hold speech."""
    frames = pcm[: len(pcm) // 240 * 240].reshape(-1, 240).astype(np.float64)
    return np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > SPEECH_RMS)


def speech(text: str, voice: tuple[str, int]) -> np.ndarray:
    """espeak-ng's rendering of ``text`` as 24 kHz PCM16, trimmed to its speech."""
    key = (text, voice)
    if key not in _speech_cache:
        wav = _run(["espeak-ng", "-v", voice[0], "-s", str(voice[1]), "--stdout", text])
        sox = ["sox", "-R", "-D", "-t", "wav", "-", "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1"]
        raw = _run([*sox, "-L", "-r", str(RATE), "-"], wav)
        pcm = np.frombuffer(raw, "<i2")
        frames = speech_frames(pcm)
        _speech_cache[key] = pcm[frames[0] * 240 : (frames[-1] + 1) * 240].copy()
    return _speech_cache[key]


@functools.cache
def tool_versions() -> dict[str, str]:
    """The versions of espeak-ng and sox that make the audio (recorded in each header)."""
    espeak = re.search(r"text-to-speech: (\S+)", _run(["espeak-ng", "--version"]).decode())
    sox = re.search(r"SoX v(\S+)", _run(["sox", "--version"]).decode())
    return {"espeak-ng": espeak.group(1) if espeak else "?", "sox": sox.group(1) if sox else "?"}


def longest_pause_ms(pcm: np.ndarray) -> int:
    """The longest run of non-speech 10 ms frames inside ``pcm``."""
    frames = speech_frames(pcm)
    return int(np.diff(frames).max(initial=1) - 1) * 10


def ms(pcm: np.ndarray) -> float:
    """Duration of ``pcm`` in milliseconds."""
    return len(pcm) / PER_MS


# ---------------------------------------------------------------------------
# Tokens (see the module docstring)


def text_tokens(text: str) -> int:
    return max(1, round(len(text) / 4))


def input_audio_tokens(duration_ms: float) -> int:
    return math.ceil(duration_ms / 100)


def output_audio_tokens(duration_ms: float) -> int:
    return math.ceil(duration_ms / 50)


# ---------------------------------------------------------------------------
# The script of one session


class Ids:
    """Deterministic ids shaped like the API's (``item_`` + 21 letters and digits)."""

    def __init__(self, seed: str):
        self._rng = random.Random(seed)

    def new(self, prefix: str, length: int = 21) -> str:
        return prefix + "".join(self._rng.choices(ID_ALPHABET, k=length))


@dataclass
class Resp:
    """A response being built: its id, its finished output items and its output size."""

    id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    out_text: int = 0
    out_audio_ms: float = 0.0
    tool_text: int = 0  # tool outputs this response brought into the context


@dataclass
class Said:
    """An assistant audio message as sent: item id, first delta's time, audio sent, end time."""

    item_id: str
    first_delta_t: float
    audio_ms: float
    t_end: float

    @property
    def playback_end(self) -> float:
        return self.first_delta_t + self.audio_ms


class Mic:
    """A microphone stream: 100 ms appends sent in real time from wall time ``t0``."""

    def __init__(self, script: Script, t0: float):
        self.script, self.t0, self.b0 = script, t0, script.buffer_ms
        self._chunks: list[np.ndarray] = []
        self._samples = 0

    @property
    def end_ms(self) -> float:
        """Buffer position (ms of session audio) just after the last sample captured."""
        return self.b0 + self._samples / PER_MS

    def silence(self, duration_ms: float) -> None:
        if duration_ms < 0:
            raise ValueError(f"negative silence ({duration_ms} ms)")
        self._add(np.zeros(round(duration_ms * PER_MS), np.int16))

    def capture(self, pcm: np.ndarray) -> float:
        """Capture ``pcm``; returns its onset as a buffer position."""
        onset = self.end_ms
        self._add(pcm)
        return onset

    def pad_until_heard(self, t_min: float) -> float:
        """Pad with silence so that speech captured next is heard (speech_started) at the
        first possible time >= ``t_min``; returns that time."""
        frame = math.ceil((t_min - VAD_LATENCY_MS - self.t0) / MIC_FRAME_MS) - 1
        # The VAD's first HEARD_AFTER_MS of speech end 20 ms before that frame does.
        onset = self.b0 + MIC_FRAME_MS * (frame + 1) - HEARD_AFTER_MS - 20
        self.silence(onset - self.end_ms)
        return self.t0 + MIC_FRAME_MS * (frame + 1) + VAD_LATENCY_MS

    def sent_at(self, buffer_ms: float) -> float:
        """When the append holding buffer position ``buffer_ms`` is sent."""
        return self.t0 + MIC_FRAME_MS * (math.floor((buffer_ms - self.b0) / MIC_FRAME_MS) + 1)

    def close(self, frames: int) -> None:
        """Send the first ``frames`` appends (padding with silence) and stop."""
        need = frames * MIC_FRAME_MS * PER_MS - self._samples
        if need < 0:
            raise ValueError("the microphone captured more than it sends")
        self._add(np.zeros(need, np.int16))
        pcm = np.concatenate(self._chunks)
        step = MIC_FRAME_MS * PER_MS
        for k in range(frames):
            frame = pcm[k * step : (k + 1) * step]
            self.script.client(self.t0 + MIC_FRAME_MS * (k + 1), "input_audio_buffer.append", audio=pcm16_to_b64(frame))
        self.script.buffer_ms = self.b0 + frames * MIC_FRAME_MS

    def close_through(self, buffer_ms: float) -> None:
        """Stop after the append that holds ``buffer_ms``."""
        self.close(math.floor((buffer_ms - self.b0) / MIC_FRAME_MS) + 1)

    def close_at(self, t: float) -> None:
        """Stop after the last append sent at or before ``t``."""
        self.close(math.floor((t - self.t0) / MIC_FRAME_MS))

    def _add(self, pcm: np.ndarray) -> None:
        self._chunks.append(pcm)
        self._samples += len(pcm)


class Script:
    """Builds one session's lines; times are ms since the websocket opened."""

    def __init__(self, scenario: str, policy: dict[str, list[str]]):
        self.scenario, self.policy = scenario, policy
        self.ids = Ids(scenario)
        self.lines: list[tuple[float, int, str, dict[str, Any]]] = []
        self.session_id = self.ids.new("sess_")
        self.conversation_id = self.ids.new("conv_")
        self.last_item: str | None = None
        self.buffer_ms = 0
        self.context_text = text_tokens(INSTRUCTIONS)
        self.context_audio = 0
        self.previous_input = 0

    # -- lines

    def server(self, t: float, type_: str, **fields: Any) -> None:
        self._add(t, "server", {"type": type_, "event_id": self.ids.new("event_"), **fields})

    def client(self, t: float, type_: str, **fields: Any) -> None:
        self._add(t, "client", {"type": type_, "event_id": None, **fields})  # numbered in send order by render()

    def local(self, t: float, type_: str, **fields: Any) -> None:
        self._add(t, "local", {"type": type_, **fields})

    def _add(self, t: float, direction: str, event: dict[str, Any]) -> None:
        self.lines.append((round(t, 1), len(self.lines), direction, copy.deepcopy(event)))

    def render(self) -> bytes:
        """The transcript file, written by :class:`TranscriptWriter` with a scripted clock."""
        now = [0.0]
        out = io.BytesIO()
        header = {
            "api": "ga",
            "url": URL,
            "model": MODEL,
            "started_at": STARTED_AT,
            "synthesised": True,
            "scenario": self.scenario,
            "policy": self.policy,
            "generator": {"script": "scripts/make_fixtures.py", **tool_versions()},
        }
        writer = TranscriptWriter(out, {"rtproto": "transcript/1", **header}, clock=lambda: now[0] / 1000)
        sent = 0
        for t, _, direction, event in sorted(self.lines, key=lambda line: line[:2]):
            now[0] = t
            if direction == "client":
                sent += 1
                event = {**event, "event_id": f"evt_{sent}"}
            getattr(writer, direction)(event)
        return out.getvalue()

    # -- session

    def open_session(self, tools: list[dict[str, Any]]) -> float:
        """session.created, the client's session.update, session.updated; returns the last time."""
        self.server(0.0, "session.created", session=self.session_object(DEFAULT_INSTRUCTIONS, [], None))
        update: dict[str, Any] = {
            "type": "realtime",
            "model": MODEL,
            "instructions": INSTRUCTIONS,
            "audio": {
                "input": {
                    "format": PCM,
                    "transcription": {"model": TRANSCRIBE_MODEL},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"format": PCM},
            },
        }
        if tools:
            update["tools"] = tools
        self.client(3.4, "session.update", session=update)
        echoed = [{k: v for k, v in tool.items() if k != "authorization"} for tool in tools]
        self.server(
            51.8, "session.updated", session=self.session_object(INSTRUCTIONS, echoed, {"model": TRANSCRIBE_MODEL})
        )
        self.context_text += sum(
            text_tokens(orjson.dumps(tool).decode()) for tool in tools if tool["type"] == "function"
        )
        return 51.8

    def session_object(
        self, instructions: str, tools: list[dict[str, Any]], transcription: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.session_id,
            "model": "gpt-realtime-2025-08-28",
            "output_modalities": ["audio"],
            "instructions": instructions,
            "tools": tools,
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": EXPIRES_AT,
            "audio": {
                "input": {
                    "format": PCM,
                    "transcription": transcription,
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": PREFIX_PADDING_MS,
                        "silence_duration_ms": SILENCE_MS,
                        "idle_timeout_ms": None,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": PCM, "voice": VOICE, "speed": 1.0},
            },
            "include": None,
        }

    def list_mcp_tools(self, t: float, tools: list[dict[str, Any]]) -> float:
        """The server lists the GitHub MCP server's tools; returns the time of the last event."""
        item_id = self.ids.new("mcpl_")
        item = {"id": item_id, "type": "mcp_list_tools", "server_label": "github", "tools": []}
        self.server(t, "conversation.item.added", previous_item_id=self.last_item, item=item)
        self.server(t + 0.5, "mcp_list_tools.in_progress", item_id=item_id)
        self.server(t + 742.3, "mcp_list_tools.completed", item_id=item_id)
        self.server(t + 743.1, "conversation.item.done", previous_item_id=self.last_item, item={**item, "tools": tools})
        self.last_item = item_id
        self.context_text += text_tokens(orjson.dumps(tools).decode())
        return t + 743.1

    def close_session(self, t: float) -> None:
        self.local(t, "connection.closed", code=1000, reason="", by="client")

    # -- the user's turns

    def user_turn(self, t0: float, text: str, spoken: str | None = None) -> float:
        """A half-duplex turn: the mic opens at ``t0``; returns the time the user item is done."""
        mic = Mic(self, t0)
        mic.silence(480)
        t_done, audio_end = self.turn(mic, text, spoken)
        mic.close_through(audio_end)
        return t_done

    def turn(self, mic: Mic, text: str, spoken: str | None = None) -> tuple[float, int]:
        """The user says ``text`` into ``mic``: VAD events, the user item, its transcription.

        Returns (time the user item is done, ``audio_end_ms``).
        """
        pcm = user_speech(spoken or text)
        onset = mic.capture(pcm)
        item_id = self.speech_started(mic, onset)
        return self.speech_stopped(mic, item_id, onset, ms(pcm), text)

    def speech_started(self, mic: Mic, onset: float) -> str:
        item_id = self.ids.new("item_")
        t = mic.sent_at(onset + HEARD_AFTER_MS) + VAD_LATENCY_MS
        self.server(
            t, "input_audio_buffer.speech_started", audio_start_ms=round(onset) - PREFIX_PADDING_MS, item_id=item_id
        )
        return item_id

    def speech_stopped(self, mic: Mic, item_id: str, onset: float, speech_ms: float, text: str) -> tuple[float, int]:
        """speech_stopped, committed and the user item; returns (time of the last event, audio_end_ms)."""
        audio_end = round(onset + speech_ms) + SILENCE_MS
        t = mic.sent_at(audio_end) + 30
        self.server(t, "input_audio_buffer.speech_stopped", audio_end_ms=audio_end, item_id=item_id)
        previous = self.last_item
        self.server(t + 1.2, "input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        item = user_item(item_id)
        self.server(t + 1.9, "conversation.item.added", previous_item_id=previous, item=item)
        self.server(t + 2.3, "conversation.item.done", previous_item_id=previous, item=item)
        self.last_item = item_id
        heard_ms = audio_end - (round(onset) - PREFIX_PADDING_MS)
        self.context_audio += input_audio_tokens(heard_ms)
        self.transcription(t + 262.0, item_id, text, heard_ms)
        return t + 2.3, audio_end

    def transcription(self, t: float, item_id: str, text: str, audio_ms: float) -> None:
        pieces = words(text)
        for j, piece in enumerate(pieces):
            self.server(
                t + 38.0 * j,
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=piece,
            )
        audio, out = input_audio_tokens(audio_ms), text_tokens(text)
        usage = {
            "type": "tokens",
            "total_tokens": audio + out,
            "input_tokens": audio,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
            "output_tokens": out,
        }
        self.server(
            t + 38.0 * len(pieces) + 6.0,
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=text,
            usage=usage,
        )

    # -- responses

    def response_created(self, t: float) -> Resp:
        resp = Resp(self.ids.new("resp_"))
        self.server(t, "response.created", response=self.response_object(resp, "in_progress"))
        self.server(t + 2.4, "rate_limits.updated", rate_limits=self.rate_limits())
        return resp

    def response_done(
        self, t: float, resp: Resp, status: str = "completed", reason: str | None = None, heard_ms: float | None = None
    ) -> float:
        """response.done with usage; ``heard_ms`` is the audio kept in the context after a truncation."""
        usage = self.usage(resp.out_text, output_audio_tokens(resp.out_audio_ms))
        details = None if reason is None else {"type": status, "reason": reason}
        self.server(t, "response.done", response=self.response_object(resp, status, details, usage))
        self.context_text += resp.out_text + resp.tool_text
        self.context_audio += input_audio_tokens(resp.out_audio_ms if heard_ms is None else heard_ms)
        return t

    def response_object(
        self, resp: Resp, status: str, details: dict[str, Any] | None = None, usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": resp.id,
            "status": status,
            "status_details": details,
            "output": list(resp.items) if usage is not None else [],
            "conversation_id": self.conversation_id,
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": PCM, "voice": VOICE}},
            "usage": usage,
            "metadata": None,
        }

    def usage(self, out_text: int, out_audio: int) -> dict[str, Any]:
        in_text, in_audio = self.context_text, self.context_audio
        cached = min(self.previous_input // 64 * 64, in_text + in_audio)
        cached_text = min(cached, in_text)
        self.previous_input = in_text + in_audio
        return {
            "total_tokens": in_text + in_audio + out_text + out_audio,
            "input_tokens": in_text + in_audio,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": in_text,
                "audio_tokens": in_audio,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {
                    "text_tokens": cached_text,
                    "audio_tokens": cached - cached_text,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    def rate_limits(self) -> list[dict[str, Any]]:
        reserved = self.context_text + self.context_audio + 4096
        return [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {
                "name": "tokens",
                "limit": 40000,
                "remaining": 40000 - reserved,
                "reset_seconds": round(reserved * 60 / 40000, 3),
            },
        ]

    def say(self, t: float, resp: Resp, text: str, spoken: str | None = None, cut_at: float | None = None) -> Said:
        """An assistant audio message starting at ``t``; ``cut_at`` stops its generation (barge-in)."""
        item_id, index, previous = self.ids.new("item_"), len(resp.items), self.last_item
        where = {"response_id": resp.id, "item_id": item_id, "output_index": index, "content_index": 0}
        opened = assistant_item(item_id, "in_progress", None)
        self.server(t, "response.output_item.added", response_id=resp.id, output_index=index, item=opened)
        self.server(t + 0.7, "conversation.item.added", previous_item_id=previous, item=opened)
        self.server(t + 1.3, "response.content_part.added", **where, part={"type": "audio", "transcript": ""})
        self.last_item = item_id
        first = t + 58.0
        frames, pieces = stream_schedule(first, speech(spoken or text, ASSISTANT_VOICE), text, cut_at)
        for ts, piece in pieces:
            self.server(ts, "response.output_audio_transcript.delta", **where, delta=piece)
        for ts, frame in frames:
            self.server(ts, "response.output_audio.delta", **where, delta=pcm16_to_b64(frame))
        transcript = "".join(piece for _, piece in pieces)
        end = (frames[-1][0] if cut_at is None else cut_at) + 4.0
        final = assistant_item(item_id, "completed" if cut_at is None else "incomplete", transcript)
        self.server(end, "response.output_audio.done", **where)
        self.server(end + 0.4, "response.output_audio_transcript.done", **where, transcript=transcript)
        self.server(end + 0.8, "response.content_part.done", **where, part={"type": "audio", "transcript": transcript})
        self.server(end + 1.2, "response.output_item.done", response_id=resp.id, output_index=index, item=final)
        self.server(end + 1.6, "conversation.item.done", previous_item_id=previous, item=final)
        resp.items.append(final)
        resp.out_text += text_tokens(transcript)
        audio_ms = sum(ms(frame) for _, frame in frames)
        resp.out_audio_ms += audio_ms
        return Said(item_id, first, audio_ms, end + 1.6)

    def interrupt(self, t: float, resp: Resp, said: Said) -> None:
        """Barge-in heard at ``t``: the client flushes its speaker and truncates the unplayed audio,
        the server cancels the response (its generation already stopped at ``t``)."""
        played = t - said.first_delta_t
        where = {"item_id": said.item_id, "content_index": 0}
        self.local(t + 0.5, "playback.cleared", **where, played_ms=played)
        self.client(t + 0.8, "conversation.item.truncate", **where, audio_end_ms=int(played))
        self.response_done(said.t_end + 0.6, resp, status="cancelled", reason="turn_detected", heard_ms=int(played))
        self.server(t + 43.5, "conversation.item.truncated", **where, audio_end_ms=int(played))

    # -- tools

    def mcp_call(
        self, t: float, resp: Resp, name: str, arguments: str, output: str, approval_request_id: str | None = None
    ) -> float:
        """An MCP call the server runs; returns the time of its conversation.item.done."""
        item_id, index, previous = self.ids.new("mcp_"), len(resp.items), self.last_item

        def item(args: str, out: str | None) -> dict[str, Any]:
            return {
                "id": item_id,
                "type": "mcp_call",
                "server_label": "github",
                "name": name,
                "arguments": args,
                "approval_request_id": approval_request_id,
                "output": out,
                "error": None,
            }

        where = {"response_id": resp.id, "item_id": item_id, "output_index": index}
        self.server(t, "response.output_item.added", response_id=resp.id, output_index=index, item=item("", None))
        self.server(t + 0.6, "conversation.item.added", previous_item_id=previous, item=item("", None))
        self.last_item = item_id
        t = self.argument_deltas(t + 21.0, "response.mcp_call_arguments.delta", where, arguments)
        self.server(t, "response.mcp_call_arguments.done", **where, arguments=arguments)
        self.server(t + 1.1, "response.mcp_call.in_progress", item_id=item_id, output_index=index)
        t += 655.4  # the GitHub API call
        self.server(t, "response.mcp_call.completed", item_id=item_id, output_index=index)
        self.server(
            t + 1.0, "response.output_item.done", response_id=resp.id, output_index=index, item=item(arguments, output)
        )
        self.server(t + 1.5, "conversation.item.done", previous_item_id=previous, item=item(arguments, output))
        resp.items.append(item(arguments, output))
        resp.out_text += text_tokens(arguments)
        resp.tool_text += text_tokens(output)
        return t + 1.5

    def argument_deltas(self, t: float, type_: str, where: dict[str, Any], arguments: str) -> float:
        pieces = re.findall(r"[A-Za-z0-9_.-]+|[^A-Za-z0-9_.-]+", arguments)
        for j, piece in enumerate(pieces):
            self.server(t + 11.5 * j, type_, **where, delta=piece)
        return t + 11.5 * len(pieces) + 3.0

    def approval_request(self, t: float, resp: Resp, name: str, arguments: str) -> tuple[str, float]:
        """An mcp_approval_request item; returns (its id, the time the client is asked)."""
        request_id, index, previous = self.ids.new("mcpr_"), len(resp.items), self.last_item
        item = {
            "id": request_id,
            "type": "mcp_approval_request",
            "server_label": "github",
            "name": name,
            "arguments": arguments,
        }
        self.server(t, "response.output_item.added", response_id=resp.id, output_index=index, item=item)
        self.server(t + 0.6, "conversation.item.added", previous_item_id=previous, item=item)
        self.server(t + 1.1, "conversation.item.done", previous_item_id=previous, item=item)
        self.server(t + 1.5, "response.output_item.done", response_id=resp.id, output_index=index, item=item)
        self.last_item = request_id
        resp.items.append(item)
        resp.out_text += text_tokens(arguments)
        return request_id, t + 1.1

    def approval_answer(self, t: float, request_id: str, approve: bool, reason: str | None) -> float:
        """The person's answer, the client's approval response and response.create; returns when the server has them."""
        who = {"by": "timeout"} if reason == "timed out" else {}  # as the CLI records nobody answering in time
        self.local(t, "approval.answer", approval_request_id=request_id, approve=approve, reason=reason, **who)
        response_id = self.ids.new("mcpr_")
        item: dict[str, Any] = {
            "type": "mcp_approval_response",
            "id": response_id,
            "approval_request_id": request_id,
            "approve": approve,
        }
        if reason is not None:
            item["reason"] = reason
        self.client(t + 0.4, "conversation.item.create", item=item)
        self.client(t + 0.6, "response.create")
        echoed = {
            "id": response_id,
            "type": "mcp_approval_response",
            "approval_request_id": request_id,
            "approve": approve,
            "reason": reason,
        }
        self.server(t + 41.7, "conversation.item.added", previous_item_id=self.last_item, item=echoed)
        self.server(t + 42.2, "conversation.item.done", previous_item_id=self.last_item, item=echoed)
        self.last_item = response_id
        self.context_text += 12
        return t + 44.0

    def function_call(self, t: float, resp: Resp, name: str, arguments: str) -> tuple[str, float]:
        """A function_call item; returns (its call_id, the time of its conversation.item.done)."""
        item_id, index, previous = self.ids.new("item_"), len(resp.items), self.last_item
        call_id = self.ids.new("call_", 16)

        def item(status: str, args: str) -> dict[str, Any]:
            return {
                "id": item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": status,
                "name": name,
                "call_id": call_id,
                "arguments": args,
            }

        where = {"response_id": resp.id, "item_id": item_id, "output_index": index, "call_id": call_id}
        self.server(
            t, "response.output_item.added", response_id=resp.id, output_index=index, item=item("in_progress", "")
        )
        self.server(t + 0.6, "conversation.item.added", previous_item_id=previous, item=item("in_progress", ""))
        self.last_item = item_id
        t = self.argument_deltas(t + 19.0, "response.function_call_arguments.delta", where, arguments)
        self.server(t, "response.function_call_arguments.done", **where, name=name, arguments=arguments)
        self.server(
            t + 1.0,
            "response.output_item.done",
            response_id=resp.id,
            output_index=index,
            item=item("completed", arguments),
        )
        self.server(t + 1.4, "conversation.item.done", previous_item_id=previous, item=item("completed", arguments))
        resp.items.append(item("completed", arguments))
        resp.out_text += text_tokens(arguments)
        return call_id, t + 1.4

    def function_result(self, t: float, call_id: str, output: str) -> float:
        """The local function returned; the client sends its output and response.create."""
        self.local(t, "function.result", call_id=call_id, output=output, is_error=False)
        self.client(
            t + 0.3,
            "conversation.item.create",
            item={"type": "function_call_output", "call_id": call_id, "output": output},
        )
        self.client(t + 0.5, "response.create")
        item = {
            "id": self.ids.new("item_"),
            "object": "realtime.item",
            "type": "function_call_output",
            "call_id": call_id,
            "output": output,
        }
        self.server(t + 40.3, "conversation.item.added", previous_item_id=self.last_item, item=item)
        self.server(t + 40.8, "conversation.item.done", previous_item_id=self.last_item, item=item)
        self.last_item = item["id"]
        self.context_text += text_tokens(output)
        return t + 43.0


def stream_schedule(
    first: float, pcm: np.ndarray, text: str, cut_at: float | None
) -> tuple[list[tuple[float, np.ndarray]], list[tuple[float, str]]]:
    """When each 200 ms audio delta and each transcript word is sent, from ``first`` on.

    The words run ahead of the audio (spread over 75% of its sending time);
    with ``cut_at`` only what was sent before it is kept.
    """
    step = DELTA_MS * PER_MS
    frames = [(first + DELTA_EVERY_MS * i, pcm[i * step : (i + 1) * step]) for i in range(math.ceil(len(pcm) / step))]
    span = DELTA_EVERY_MS * len(frames) * 0.75
    pieces, offset = [], 0
    for piece in words(text):
        pieces.append((first - 25.0 + span * (offset + len(piece) - len(piece.lstrip())) / len(text), piece))
        offset += len(piece)
    if cut_at is None:
        return frames, pieces
    return [f for f in frames if f[0] < cut_at], [p for p in pieces if p[0] < cut_at]


def words(text: str) -> list[str]:
    """``text`` in word-sized deltas (each but the first keeps its leading space)."""
    return re.findall(r"\s*\S+", text)


def user_speech(text: str) -> np.ndarray:
    pcm = speech(text, USER_VOICE)
    if longest_pause_ms(pcm) >= SILENCE_MS:
        raise SystemExit(f"make_fixtures: a pause in {text!r} would end the turn early")
    return pcm


def user_item(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }


def assistant_item(item_id: str, status: str, transcript: str | None) -> dict[str, Any]:
    content = [] if transcript is None else [{"type": "output_audio", "transcript": transcript}]
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


# ---------------------------------------------------------------------------
# Tools


def github_tool() -> dict[str, Any]:
    """The session's GitHub remote MCP server, as the client sends it (token already redacted)."""
    return {
        "type": "mcp",
        "server_label": "github",
        "server_url": GITHUB_URL,
        "authorization": "[redacted]",
        "allowed_tools": sorted(ALLOW + ASK),
        "require_approval": {"always": {"tool_names": sorted(ASK)}, "never": {"tool_names": sorted(ALLOW)}},
    }


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _p(type_: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, **extra, "description": description}


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str], read_only: bool) -> dict:
    """One entry of an ``mcp_list_tools`` item's ``tools``."""
    return {
        "name": name,
        "description": description,
        "input_schema": _schema(properties, required),
        "annotations": {"read_only": read_only},
    }


_OWNER_REPO = {"owner": _p("string", "Repository owner"), "repo": _p("string", "Repository name")}
_PER_PAGE = _p("number", "Results per page for pagination (min 1, max 100)", minimum=1, maximum=100)
GITHUB_TOOLS = [
    _tool(
        "create_repository",
        "Create a new GitHub repository in your account or specified organization",
        {
            "name": _p("string", "Repository name"),
            "description": _p("string", "Repository description"),
            "organization": _p(
                "string", "Organization to create the repository in (omit to create in your personal account)"
            ),
            "private": _p("boolean", "Whether repo should be private"),
            "autoInit": _p("boolean", "Initialize with README"),
        },
        ["name"],
        read_only=False,
    ),
    _tool(
        "get_latest_release",
        "Get the latest release in a GitHub repository",
        _OWNER_REPO,
        ["owner", "repo"],
        read_only=True,
    ),
    _tool(
        "list_issues",
        "List issues in a GitHub repository. For pagination, use the 'endCursor' from the previous "
        "response's 'pageInfo' in the 'after' parameter.",
        {
            **_OWNER_REPO,
            "state": _p(
                "string",
                "Filter by state, by default both open and closed issues are returned when not provided",
                enum=["OPEN", "CLOSED"],
            ),
            "labels": _p("array", "Filter by labels", items={"type": "string"}),
            "orderBy": _p("string", "Order issues by field.", enum=["CREATED_AT", "UPDATED_AT", "COMMENTS"]),
            "direction": _p("string", "Order direction.", enum=["ASC", "DESC"]),
            "since": _p("string", "Filter by date (ISO 8601 timestamp)"),
            "perPage": _PER_PAGE,
            "after": _p(
                "string",
                "Cursor for pagination. Use the endCursor from the previous page's PageInfo for GraphQL APIs.",
            ),
        },
        ["owner", "repo"],
        read_only=True,
    ),
    _tool(
        "search_repositories",
        "Find GitHub repositories by name, description, readme, topics, or other metadata.",
        {
            "query": _p(
                "string",
                "Repository search query. Examples: 'machine learning in:name stars:>1000 "
                "language:python', 'topic:react'.",
            ),
            "page": _p("number", "Page number for pagination (min 1)", minimum=1),
            "perPage": _PER_PAGE,
            "minimal_output": _p("boolean", "Return minimal repository information (default: true).", default=True),
        },
        ["query"],
        read_only=True,
    ),
]

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "parameters": _schema({"city": {"type": "string", "description": "City name, for example Paris"}}, ["city"]),
}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


RELEASE = _json(
    {
        "id": 261784520,
        "tag_name": "v3.51.0",
        "name": "v3.51.0",
        "html_url": "https://github.com/openai/openai-python/releases/tag/v3.51.0",
        "author": {"login": "stainless-app[bot]"},
        "draft": False,
        "prerelease": False,
        "created_at": "2026-11-20T18:39:54Z",
        "published_at": "2026-11-20T18:42:11Z",
        "body": "## 3.51.0 (2026-11-20)\n\n### Features\n\n* **api:** realtime updates\n",
    }
)
NEW_REPO_ARGS = _json({"name": "voice-notes", "private": True, "autoInit": True})
NEW_REPO = _json(
    {
        "id": 1093857126,
        "name": "voice-notes",
        "full_name": "octo-dev/voice-notes",
        "private": True,
        "html_url": "https://github.com/octo-dev/voice-notes",
        "default_branch": "main",
        "created_at": "2026-11-25T10:00:11Z",
    }
)


# ---------------------------------------------------------------------------
# Scenarios


def scenario_mcp_call() -> Script:
    s = Script("mcp_call", {"allow": ALLOW, "ask": ASK})
    t = s.list_mcp_tools(s.open_session([github_tool()]) + 1.2, GITHUB_TOOLS)
    t = s.user_turn(t + 906.0, "What is the latest release of the OpenAI Python repository?")
    resp = s.response_created(t + 3.6)
    t = s.mcp_call(t + 431.0, resp, "get_latest_release", _json({"owner": "openai", "repo": "openai-python"}), RELEASE)
    t = s.response_done(t + 2.1, resp)
    s.client(t + 1.4, "response.create")
    resp = s.response_created(t + 47.9)
    said = s.say(t + 412.5, resp, "The latest release of OpenAI Python is version 3.51.0, published on November 20th.")
    s.response_done(said.t_end + 2.2, resp)
    s.close_session(said.playback_end + 700.0)
    return s


def approval_scenario(name: str, answer_after_ms: float, approve: bool, reason: str | None, reply: str) -> Script:
    """The user asks for a new repository; the client asks the person, who answers after ``answer_after_ms``."""
    s = Script(name, {"allow": ALLOW, "ask": ASK})
    t = s.list_mcp_tools(s.open_session([github_tool()]) + 1.2, GITHUB_TOOLS)
    t = s.user_turn(
        t + 1133.0,
        "Please create a private repository called voice-notes on my GitHub account.",
        spoken="Please create a private repository called voice notes on my GitHub account.",
    )
    resp = s.response_created(t + 3.4)
    request_id, asked = s.approval_request(t + 517.0, resp, "create_repository", NEW_REPO_ARGS)
    s.response_done(asked + 2.6, resp)
    t = s.approval_answer(asked + answer_after_ms, request_id, approve, reason)
    resp = s.response_created(t)
    if approve:
        t = s.mcp_call(t + 356.0, resp, "create_repository", NEW_REPO_ARGS, NEW_REPO, approval_request_id=request_id)
        t = s.response_done(t + 2.0, resp)
        s.client(t + 1.3, "response.create")
        t += 46.2
        resp = s.response_created(t)
    said = s.say(t + 401.0, resp, reply)
    s.response_done(said.t_end + 2.2, resp)
    s.close_session(said.playback_end + 700.0)
    return s


def scenario_function_call() -> Script:
    s = Script("function_call", NO_POLICY)
    t = s.user_turn(s.open_session([WEATHER_TOOL]) + 1040.0, "What's the weather like in Paris right now?")
    resp = s.response_created(t + 3.5)
    call_id, t = s.function_call(t + 388.0, resp, "get_weather", _json({"city": "Paris"}))
    t = s.response_done(t + 2.0, resp)
    t = s.function_result(t + 3.1, call_id, '{"temperature_c": 18}')
    resp = s.response_created(t)
    said = s.say(t + 395.0, resp, "It's 18 degrees Celsius in Paris right now.")
    s.response_done(said.t_end + 2.2, resp)
    s.close_session(said.playback_end + 700.0)
    return s


LONG_ANSWER = (
    "Python was created by Guido van Rossum in the Netherlands, and its first public release came out in "
    "February 1991. The name comes from Monty Python's Flying Circus, not from the snake. Python 2 arrived "
    "in 2000, and Python 3 followed in 2008."
)
PLAYED_MS = 1840


def scenario_barge_in() -> Script:
    """The user interrupts a long answer after hearing PLAYED_MS of it (full-duplex microphone)."""
    s = Script("barge_in", NO_POLICY)
    mic = Mic(s, s.open_session([]) + 948.0)
    mic.silence(480)
    t, _ = s.turn(mic, "Tell me about the history of the Python programming language.")
    resp = s.response_created(t + 3.6)
    interrupted_at = mic.pad_until_heard(t + 450.0 + PLAYED_MS)
    said = s.say(interrupted_at - PLAYED_MS - 58.0, resp, LONG_ANSWER, cut_at=interrupted_at)
    s.interrupt(interrupted_at, resp, said)
    t, _ = s.turn(mic, "Wait, just tell me who created it.")
    resp = s.response_created(t + 3.5)
    said = s.say(t + 371.0, resp, "Guido van Rossum created Python.")
    s.response_done(said.t_end + 2.2, resp)
    end = said.playback_end + 700.0
    mic.close_at(end - 1.0)
    s.close_session(end)
    return s


APPROVALS = {  # scenario: (answered after ms, approve, reason, the assistant's reply)
    "mcp_approval_approved": (
        2630.0,
        True,
        None,
        "Done. I created the private repository voice-notes on your GitHub account.",
    ),
    "mcp_approval_denied": (3120.0, False, "denied by user", "Okay, I did not create the repository."),
    "mcp_approval_timeout": (
        30000.0,
        False,
        "timed out",
        "I didn't get your approval in time, so I did not create the repository.",
    ),
}
SCENARIOS: dict[str, Callable[[], Script]] = {
    "mcp_call": scenario_mcp_call,
    **{name: functools.partial(approval_scenario, name, *args) for name, args in APPROVALS.items()},
    "function_call": scenario_function_call,
    "barge_in": scenario_barge_in,
}


# ---------------------------------------------------------------------------
# Output


def check_file(path: Path) -> None:
    """Read a written transcript back; every event must decode and re-encode to the same JSON."""
    transcript = read_transcript(path)
    for line in transcript.lines:
        if line.dir == "local":
            continue
        decode = decode_server if line.dir == "server" else decode_client
        event = decode(orjson.dumps(line.event))
        if isinstance(event, UnknownEvent) or to_dict(event) != line.event:
            raise SystemExit(f"make_fixtures: {path}:{line.lineno}: {line.type} does not round-trip")


def build() -> dict[Path, bytes]:
    """Every output file and its bytes."""
    files = {FIXTURES / f"{name}.jsonl": make().render() for name, make in SCENARIOS.items()}
    files[DEMO] = files[FIXTURES / f"{DEMO_SOURCE}.jsonl"]
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [path for path, data in files.items() if not path.exists() or path.read_bytes() != data]
        for path in stale:
            print(f"differs: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        check_file(path)
        print(f"{path.relative_to(ROOT)}: {len(data) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
