"""``python -m rtproto.run replay FILE``: a recorded conversation, read offline.

The transcript is replayed into the session core (:mod:`rtproto.replay`), and
the core's notices are rendered as a person reads them: both sides'
transcripts, tool calls with arguments and results, approvals and answers,
errors and truncations, each at its recorded time, then a summary. Beta
transcripts are translated to GA first (:mod:`rtproto.versions`).
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import codec
from .console import Console, summary_lines
from .events import enc_hook
from .replay import ReplayNotice, replay
from .transcript import Transcript, read_transcript

_SKIPPED = frozenset({"TranscriptDelta"})  # the report shows whole transcripts


@dataclass
class Report:
    """A replayed transcript: its notices, the core's final state, translation notes."""

    transcript: Transcript
    notices: list[ReplayNotice]
    session: Any
    notes: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        """Session length: the time of the last line."""
        return self.transcript.duration_ms

    def summary(self) -> dict[str, Any]:
        """Turns, tokens by kind, per-turn latency and session length."""
        usage = self.session.usage
        return {
            "turns": len(self.session.turns),
            "tokens": msgspec.to_builtins(usage) | {"total_tokens": usage.total_tokens},
            "latency_ms": [turn.latency_ms for turn in self.session.turns],
            "session_ms": self.duration_ms,
        }

    def to_json(self) -> str:
        """The whole report as JSON."""
        events = [{"t": n.t, "line": n.lineno, "notice": type(n.notice).__name__,
                   **msgspec.to_builtins(n.notice, enc_hook=enc_hook)} for n in self.notices
                  if type(n.notice).__name__ not in _SKIPPED]
        return json.dumps({"header": self.transcript.header, "events": events, "summary": self.summary(),
                           "notes": self.notes}, indent=2)

    def render(self, color: bool = False) -> str:
        """The conversation as text, one line per notice, prefixed by its time."""
        out = io.StringIO()
        console = Console(out=out, color=color)
        lines = []
        for item in self.notices:
            if type(item.notice).__name__ in _SKIPPED:
                continue
            console.show(item.notice)
            text = out.getvalue()
            out.seek(0)
            out.truncate()
            lines += [f"{_clock(item.t)}  {line}" for line in text.splitlines()]
        lines += [f"note: {note}" for note in self.notes]
        lines += summary_lines(self.session) + [f"session length: {_clock(self.duration_ms)}"]
        return "\n".join(lines) + "\n"


def _clock(ms: float) -> str:
    minutes, seconds = divmod(ms / 1000.0, 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def build_report(transcript: Transcript) -> Report:
    """Replay ``transcript`` (GA or beta) into the core and collect what it noticed."""
    notes: list[str] = []
    if transcript.api == "beta":
        from .versions import translate_transcript

        transcript, losses = translate_transcript(transcript, to="ga")
        notes = [f"line {n.lineno} ({n.event_type}): {n.message}" for n in losses]
    result = replay(transcript, strict=False)
    return Report(transcript, result.notices, result.session, notes)


async def cli_replay(args: Any) -> int:
    """The ``replay`` subcommand; returns the exit code (2 for an unreadable transcript)."""
    from .errors import TranscriptError

    try:
        transcript = read_transcript(args.file)
    except (TranscriptError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = build_report(transcript)
    color = sys.stdout.isatty() and not args.json
    sys.stdout.write(report.to_json() + "\n" if args.json else report.render(color))
    from . import timeline

    if args.audio_out:
        codec.write_wav(args.audio_out, *timeline.assistant_audio(report.transcript))
    if args.user_audio_out:
        codec.write_wav(args.user_audio_out, *timeline.user_audio(report.transcript))
    if args.play:
        await _play(*timeline.assistant_audio(report.transcript))
    return 0


async def _play(pcm: Any, rate: int) -> None:
    from .audio import Speaker

    if rate != 24000:
        pcm = codec.resample(pcm, rate, 24000)
    speaker = Speaker()
    try:
        speaker.play("replay", 0, pcm)
        await speaker.drain()
    finally:
        speaker.close()
