"""Time rtproto's event decode/encode against the official SDK's receive and send paths.

    python scripts/bench_events.py [--quick]

Receive: one minute of assistant audio (24 kHz PCM16, synthesized voice-like
signal) streamed as 20, 100 and 500 ms ``response.output_audio.delta`` frames,
with transcript deltas and the response lifecycle around them, ending in a
``response.done`` carrying an MCP call, a message and usage. Deltas carry the
``obfuscation`` padding real servers add. Per frame:

* rtproto: ``decode_server(frame)`` and, for audio deltas, ``b64_to_pcm16(delta)``;
* SDK (openai, what ``RealtimeConnection.recv`` does after ``recv_bytes``):
  ``construct_type_unchecked(value=json.loads(frame), type_=RealtimeServerEvent)``
  and, for audio deltas, ``base64.b64decode(delta)``; its validators are built
  by one warm-up pass first;
* floors: bare ``orjson.loads(frame)``, and a plain copy ``bytes(bytearray(frame))``.

Send: an ``input_audio_buffer.append`` of 20, 100 and 200 ms from an int16 array:

* rtproto: ``encode(InputAudioBufferAppend(audio=pcm16_to_b64(pcm)))``;
* SDK (``connection.input_audio_buffer.append(audio=...)`` without the socket):
  ``base64.b64encode(pcm.tobytes()).decode()``, ``strip_not_given({...})``, then
  ``json.dumps(maybe_transform(event, Union[RealtimeClientEventParam,
  ResponseCreateEventWithReferencesParam]))`` as ``RealtimeConnection.send`` does.

Times are the best of several passes over the whole stream (perf_counter_ns).
MB/s counts frame bytes (received JSON, or produced JSON for send).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Union

import msgspec
import numpy as np
import orjson
import pybase64

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtproto.codec import b64_to_pcm16, pcm16_to_b64  # noqa: E402
from rtproto.events import (  # noqa: E402
    GA_SERVER, InputAudioBufferAppend, ResponseOutputAudioDelta, decode_server, encode,
)

RATE = 24_000
TARGETS = {"receive_vs_sdk": 25.0, "send_vs_sdk": 100.0, "receive_vs_orjson": 2.0}

# ---------------------------------------------------------------------------
# The stream


def voice_like(seconds: float, seed: int = 7) -> np.ndarray:
    """Speech-shaped PCM16: a gliding harmonic tone, syllable envelope, pauses, breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 140 + 25 * np.sin(2 * np.pi * 0.7 * t) + 6 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 3.8 * t + 1.3 * np.sin(2 * np.pi * 0.31 * t)), 0, None) ** 0.6
    pauses = (np.sin(2 * np.pi * 0.23 * t) > -0.85).astype(float)
    signal = (0.5 * tone * syllables + 0.02 * rng.standard_normal(t.size)) * pauses
    return (signal / np.abs(signal).max() * 12_000).astype(np.int16)


class Ids:
    """Realistic-looking ids (``event_`` + 21 characters)."""

    _ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))

    def __init__(self, seed: int = 1):
        self._rng = np.random.default_rng(seed)

    def __call__(self, prefix: str) -> str:
        return prefix + "_" + "".join(self._rng.choice(self._ALPHABET, 21))


WORDS = ("Sure, here is what I found. The deepwiki server says the Realtime API streams audio both "
         "ways over one websocket, and the client plays each delta as soon as it arrives. ").split()


def response_done(ids: Ids, response_id: str, item_id: str, transcript: str) -> dict[str, Any]:
    return {
        "type": "response.done", "event_id": ids("event"),
        "response": {
            "object": "realtime.response", "id": response_id, "status": "completed", "status_details": None,
            "output": [
                {"id": ids("mcp"), "type": "mcp_call", "server_label": "deepwiki", "name": "ask_question",
                 "arguments": '{"repoName":"openai/openai-python","question":"How does Realtime stream audio?"}',
                 "approval_request_id": None, "output": "The Realtime API streams audio both ways.", "error": None},
                {"id": item_id, "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_audio", "transcript": transcript}]},
            ],
            "conversation_id": ids("conv"), "output_modalities": ["audio"], "max_output_tokens": "inf",
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
            "usage": {"total_tokens": 4737, "input_tokens": 1434, "output_tokens": 3303,
                      "input_token_details": {"text_tokens": 1263, "audio_tokens": 171, "image_tokens": 0,
                                              "cached_tokens": 1152, "cached_tokens_details": {
                                                  "text_tokens": 1152, "audio_tokens": 0, "image_tokens": 0}},
                      "output_token_details": {"text_tokens": 820, "audio_tokens": 2483}},
            "metadata": None,
        },
    }


def receive_stream(pcm: np.ndarray, delta_ms: int) -> list[bytes]:
    """The server frames of one spoken response, audio cut into ``delta_ms`` deltas."""
    ids = Ids()
    rid, iid = ids("resp"), ids("item")
    at = {"response_id": rid, "item_id": iid, "output_index": 1, "content_index": 0}
    item = {"id": iid, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    frames: list[dict[str, Any]] = [
        {"type": "response.created", "event_id": ids("event"), "response": {
            "object": "realtime.response", "id": rid, "status": "in_progress", "output": [],
            "output_modalities": ["audio"], "max_output_tokens": "inf"}},
        {"type": "rate_limits.updated", "event_id": ids("event"), "rate_limits": [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 800000, "remaining": 795312, "reset_seconds": 0.351}]},
        {"type": "response.output_item.added", "event_id": ids("event"), "response_id": rid, "output_index": 1,
         "item": item},
        {"type": "conversation.item.added", "event_id": ids("event"), "previous_item_id": None, "item": item},
        {"type": "response.content_part.added", "event_id": ids("event"), **at,
         "part": {"type": "audio", "transcript": ""}},
    ]
    step = RATE * delta_ms // 1000
    words: list[str] = []
    for n, start in enumerate(range(0, len(pcm), step)):
        if start // (RATE * 3 // 10) != (start + step) // (RATE * 3 // 10) or n == 0:  # a word every 300 ms
            words.append(WORDS[len(words) % len(WORDS)])
            frames.append({"type": "response.output_audio_transcript.delta", "event_id": ids("event"), **at,
                           "delta": " " + words[-1], "obfuscation": ids("o")[2:10]})
        frames.append({"type": "response.output_audio.delta", "event_id": ids("event"), **at,
                       "delta": pcm16_to_b64(pcm[start:start + step]), "obfuscation": ids("o")[2:7]})
    transcript = " ".join(words)
    done_item = {**item, "status": "completed", "content": [{"type": "output_audio", "transcript": transcript}]}
    frames += [
        {"type": "response.output_audio.done", "event_id": ids("event"), **at},
        {"type": "response.output_audio_transcript.done", "event_id": ids("event"), **at, "transcript": transcript},
        {"type": "response.content_part.done", "event_id": ids("event"), **at,
         "part": {"type": "audio", "transcript": transcript}},
        {"type": "response.output_item.done", "event_id": ids("event"), "response_id": rid, "output_index": 1,
         "item": done_item},
        {"type": "conversation.item.done", "event_id": ids("event"), "previous_item_id": None, "item": done_item},
        response_done(ids, rid, iid, transcript),
    ]
    return [orjson.dumps(f) for f in frames]


# ---------------------------------------------------------------------------
# The paths being timed


def check_receive(frames: list[bytes], pcm: np.ndarray) -> None:
    """Both paths read every frame as the right event, and the audio comes back whole.

    Every frame must decode in msgspec's one pass (no second, lenient read).
    """
    events = [GA_SERVER._decoder.decode(data) for data in frames]
    assert events == [decode_server(data) for data in frames]
    sdk_events = [construct_sdk(data) for data in frames]
    assert [e.type for e in events] == [e.type for e in sdk_events]
    audio = [b64_to_pcm16(e.delta) for e in events if type(e) is ResponseOutputAudioDelta]
    assert np.array_equal(np.concatenate(audio), pcm)


def construct_sdk(data: bytes) -> Any:
    from openai._models import construct_type_unchecked
    from openai.types.realtime import RealtimeServerEvent

    return construct_type_unchecked(value=json.loads(data), type_=RealtimeServerEvent)


def rtproto_receive(frames: list[bytes]) -> None:
    for data in frames:
        event = decode_server(data)
        if type(event) is ResponseOutputAudioDelta:
            b64_to_pcm16(event.delta)


def orjson_floor(frames: list[bytes]) -> None:
    for data in frames:
        orjson.loads(data)


def copy_floor(frames: list[bytes]) -> None:
    for data in frames:
        bytes(bytearray(data))


def sdk_paths() -> tuple[Callable[[list[bytes]], None], Callable[[np.ndarray], str]]:
    """The SDK's receive and send paths, as functions over the same inputs as rtproto's."""
    from openai._models import construct_type_unchecked
    from openai._types import omit
    from openai._utils import maybe_transform, strip_not_given
    from openai.types.realtime import RealtimeServerEvent
    from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam
    from openai.types.realtime.response_create_event_with_references_param import (
        ResponseCreateEventWithReferencesParam,
    )

    param_union = Union[RealtimeClientEventParam, ResponseCreateEventWithReferencesParam]

    def receive(frames: list[bytes]) -> None:
        for data in frames:
            event = construct_type_unchecked(value=json.loads(data), type_=RealtimeServerEvent)
            if event.type == "response.output_audio.delta":
                base64.b64decode(event.delta)

    def send(pcm: np.ndarray) -> str:
        audio = base64.b64encode(pcm.tobytes()).decode("ascii")
        event = strip_not_given({"type": "input_audio_buffer.append", "audio": audio, "event_id": omit})
        return json.dumps(maybe_transform(event, param_union))

    return receive, send


def rtproto_send(pcm: np.ndarray) -> bytes:
    return encode(InputAudioBufferAppend(audio=pcm16_to_b64(pcm)))


# ---------------------------------------------------------------------------
# Timing and the table


def best_ns(run: Callable[[], Any], repeats: int) -> int:
    """Best wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - start)
    return min(times)


def rate_cells(count: int, nbytes: int, ns: int) -> tuple[float, float]:
    seconds = ns / 1e9
    return count / seconds, nbytes / seconds / 1e6


def receive_table(pcm: np.ndarray, sdk_receive: Callable, passes: int, sdk_passes: int) -> dict[int, dict[str, float]]:
    print("\nRECEIVE: one minute of assistant audio, all frames of the response (best of "
          f"{passes} passes; SDK {sdk_passes})")
    print(f"{'deltas':>7} {'frames':>6} {'MB':>6}  {'path':<44} {'events/s':>11} {'MB/s':>8} "
          f"{'us/frame':>9} {'vs SDK':>8} {'vs orjson':>10}")
    results = {}
    for delta_ms in (20, 100, 500):
        frames = receive_stream(pcm, delta_ms)
        count, nbytes = len(frames), sum(map(len, frames))
        check_receive(frames, pcm)
        sdk_receive(frames)  # warm-up: builds the SDK's validators
        rtproto_receive(frames)
        ns = {
            "copy": best_ns(lambda: copy_floor(frames), passes),
            "orjson": best_ns(lambda: orjson_floor(frames), passes),
            "rtproto": best_ns(lambda: rtproto_receive(frames), passes),
            "sdk": best_ns(lambda: sdk_receive(frames), sdk_passes),
        }
        labels = {
            "copy": "floor: bytes(bytearray(frame))",
            "orjson": "floor: orjson.loads",
            "rtproto": "rtproto: decode_server + b64_to_pcm16",
            "sdk": "SDK: construct_type_unchecked + b64decode",
        }
        for key in ("copy", "orjson", "rtproto", "sdk"):
            events, mbs = rate_cells(count, nbytes, ns[key])
            vs_sdk = f"{ns['sdk'] / ns[key]:.1f}x" if key == "rtproto" else ""
            vs_orjson = f"{ns[key] / ns['orjson']:.2f}" if key in ("rtproto", "sdk") else ""
            print(f"{delta_ms:>5}ms {count:>6} {nbytes / 1e6:>6.2f}  {labels[key]:<44} {events:>11,.0f} "
                  f"{mbs:>8.0f} {ns[key] / count / 1e3:>9.2f} {vs_sdk:>8} {vs_orjson:>10}")
        results[delta_ms] = {"vs_sdk": ns["sdk"] / ns["rtproto"], "vs_orjson": ns["rtproto"] / ns["orjson"]}
    return results


def send_table(pcm: np.ndarray, sdk_send: Callable, loops: int, passes: int) -> dict[int, float]:
    print(f"\nSEND: input_audio_buffer.append from an int16 array (best of {passes} passes of {loops} events)")
    print(f"{'chunk':>7} {'bytes':>6}  {'path':<44} {'events/s':>11} {'MB/s':>8} {'us/event':>9} {'vs SDK':>8}")
    results = {}
    for chunk_ms in (20, 100, 200):
        step = RATE * chunk_ms // 1000
        chunks = [pcm[i:i + step] for i in range(0, step * loops, step)]
        produced = [rtproto_send(c) for c in chunks]
        frame_bytes = len(produced[0])
        assert [orjson.loads(f) for f in produced] == [json.loads(sdk_send(c)) for c in chunks]  # same events
        ns = {
            "copy": best_ns(lambda: [bytes(bytearray(f)) for f in produced], passes),
            "rtproto": best_ns(lambda: [rtproto_send(c) for c in chunks], passes),
            "sdk": best_ns(lambda: [sdk_send(c) for c in chunks], passes),
        }
        labels = {"copy": "floor: bytes(bytearray(frame))",
                  "rtproto": "rtproto: encode(Append(pcm16_to_b64(pcm)))",
                  "sdk": "SDK: b64encode + maybe_transform + json.dumps"}
        for key in ("copy", "rtproto", "sdk"):
            events, mbs = rate_cells(len(chunks), frame_bytes * len(chunks), ns[key])
            vs_sdk = f"{ns['sdk'] / ns[key]:.1f}x" if key == "rtproto" else ""
            print(f"{chunk_ms:>5}ms {frame_bytes:>6}  {labels[key]:<44} {events:>11,.0f} {mbs:>8.0f} "
                  f"{ns[key] / len(chunks) / 1e3:>9.2f} {vs_sdk:>8}")
        results[chunk_ms] = ns["sdk"] / ns["rtproto"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer passes (a smoke run, noisier numbers)")
    args = parser.parse_args()
    passes, sdk_passes, send_passes = (3, 1, 3) if args.quick else (30, 5, 15)
    started = time.perf_counter()

    import openai
    import pydantic

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, msgspec {msgspec.__version__}, "
          f"orjson {orjson.__version__}, pybase64 {pybase64.__version__}, numpy {np.__version__}, "
          f"openai {openai.__version__}, pydantic {pydantic.VERSION}")
    pcm = voice_like(60.0)
    sdk_receive, sdk_send = sdk_paths()
    received = receive_table(pcm, sdk_receive, passes, sdk_passes)
    sent = send_table(pcm, sdk_send, loops=500, passes=send_passes)

    print("\nTARGETS")
    checks = [
        (f"receive, 20 ms deltas: rtproto >= {TARGETS['receive_vs_sdk']:.0f}x SDK events/s",
         received[20]["vs_sdk"] >= TARGETS["receive_vs_sdk"], f"{received[20]['vs_sdk']:.1f}x"),
        (f"send, 20 ms append: rtproto >= {TARGETS['send_vs_sdk']:.0f}x SDK", sent[20] >= TARGETS["send_vs_sdk"],
         f"{sent[20]:.1f}x"),
    ] + [
        (f"receive, {ms} ms deltas: rtproto time <= {TARGETS['receive_vs_orjson']:.0f}x bare orjson.loads",
         r["vs_orjson"] <= TARGETS["receive_vs_orjson"], f"{r['vs_orjson']:.2f}x")
        for ms, r in received.items()
    ]
    for label, ok, value in checks:
        print(f"  {'met ' if ok else 'MISS'}  {label}: {value}")
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
