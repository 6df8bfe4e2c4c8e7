"""The audio of a transcript laid on its time line: what each side heard, when.

Audio deltas arrive faster than real time, so a part's audio starts at the
time of its first frame and then runs on without gaps; the next part starts
when it arrives or when the previous one ends, whichever is later. Silence fills
the gaps. An assistant part cut by a barge-in (a ``playback.cleared`` local
line) keeps only what was really played. Works on GA and beta transcripts.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from . import codec
from .transcript import Transcript

ASSISTANT_AUDIO = frozenset({"response.output_audio.delta", "response.audio.delta"})


def session_formats(transcript: Transcript) -> tuple[codec.WireFormat, codec.WireFormat]:
    """(input, output) audio formats: the last ones the server confirmed (default pcm16 24 kHz)."""
    fmt_in = fmt_out = codec.WireFormat()
    for line in transcript.lines:
        if line.dir == "server" and line.event.get("type") in ("session.created", "session.updated"):
            fmt_in, fmt_out = _formats(line.event.get("session") or {}, fmt_in, fmt_out)
    return fmt_in, fmt_out


def _formats(session: dict, fmt_in: codec.WireFormat, fmt_out: codec.WireFormat) -> tuple[codec.WireFormat, codec.WireFormat]:
    audio = session.get("audio") or {}
    if "format" in (audio.get("input") or {}):
        fmt_in = codec.WireFormat.from_ga(audio["input"]["format"])
    if "format" in (audio.get("output") or {}):
        fmt_out = codec.WireFormat.from_ga(audio["output"]["format"])
    if session.get("input_audio_format"):
        fmt_in = codec.WireFormat.from_beta(session["input_audio_format"])
    if session.get("output_audio_format"):
        fmt_out = codec.WireFormat.from_beta(session["output_audio_format"])
    return fmt_in, fmt_out


def assistant_audio(transcript: Transcript) -> tuple[np.ndarray, int]:
    """The assistant's audio as heard (int16 at the session's output rate), and that rate."""
    _, fmt = session_formats(transcript)
    cuts = _played_ms(transcript)
    parts = []
    for line in transcript.lines:
        event = line.event
        if line.dir == "server" and event.get("type") in ASSISTANT_AUDIO:
            key = (event.get("item_id"), event.get("content_index", 0))
            parts.append((line.t, key, codec.decode_audio(event.get("delta", ""), fmt)))
    return lay_out(parts, fmt.rate, cuts), fmt.rate


def user_audio(transcript: Transcript) -> tuple[np.ndarray, int]:
    """The user's audio as sent (``input_audio_buffer.append``), and its rate."""
    fmt, _ = session_formats(transcript)
    parts = [(line.t, "user", codec.decode_audio(line.event.get("audio", ""), fmt))
             for line in transcript.lines
             if line.dir == "client" and line.event.get("type") == "input_audio_buffer.append"]
    return lay_out(parts, fmt.rate, {}), fmt.rate


def _played_ms(transcript: Transcript) -> dict[Any, float]:
    return {(e["item_id"], e.get("content_index", 0)): float(e["played_ms"])
            for e in transcript.local_events() if e.get("type") == "playback.cleared"}


def lay_out(parts: Iterable[tuple[float, Any, np.ndarray]], rate: int, cuts: dict[Any, float]) -> np.ndarray:
    """Place ``(t_ms, key, pcm)`` chunks on one time line (see the module docstring)."""
    cursor = 0  # the end of everything placed so far, in samples
    key_end: dict[Any, int] = {}
    key_start: dict[Any, int] = {}
    placed: list[tuple[int, np.ndarray]] = []
    for t_ms, key, pcm in parts:
        start = key_end.get(key)
        if start is None:
            start = max(cursor, codec.ms_to_samples(t_ms, rate))
            key_start[key] = start
        if key in cuts:
            limit = key_start[key] + codec.ms_to_samples(cuts[key], rate)
            pcm = pcm[: max(0, limit - start)]
        placed.append((start, pcm))
        key_end[key] = start + len(pcm)
        cursor = max(cursor, key_end[key])
    out = np.zeros(cursor, np.int16)
    for start, pcm in placed:
        out[start:start + len(pcm)] = pcm
    return out
