"""``python -m rtproto.run replay FILE``: a recorded conversation, read offline.

The transcript is replayed into the session core (:mod:`rtproto.replay`), and
the core's notices are rendered as a person reads them: both sides'
transcripts, tool calls with arguments and results, approvals and answers,
errors and truncations, each at its recorded time, then a summary. Beta
transcripts are translated to GA first (:mod:`rtproto.versions`).

The command reads the file as a stream and writes each notice as it comes, so
its memory does not grow with the transcript's length (except for the audio it
is asked to export or play).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import msgspec

from . import codec
from .console import Console, summary_lines
from .events import enc_hook
from .replay import ReplayNotice, replay, replay_lines
from .transcript import RAW_FRAME_TYPE, Line, Transcript, iter_transcript, unreadable

_SKIPPED = frozenset({"TranscriptDelta"})  # the report shows whole transcripts
# The lines rtproto.timeline needs to lay out the audio.
_AUDIO_TYPES = frozenset({"session.created", "session.updated", "response.output_audio.delta",
                          "response.audio.delta", "input_audio_buffer.append", "playback.cleared"})


def _summary(session: Any, duration_ms: float) -> dict[str, Any]:
    usage = session.usage
    return {
        "turns": len(session.turns),
        "tokens": msgspec.to_builtins(usage) | {"total_tokens": usage.total_tokens},
        "latency_ms": [turn.latency_ms for turn in session.turns],
        "session_ms": duration_ms,
    }


class _Renderer:
    # Writes a report to `out` one notice at a time: text for people, or JSON.

    def __init__(self, out: TextIO, header: dict[str, Any], as_json: bool, color: bool = False):
        self.out, self.as_json = out, as_json
        self._buffer = io.StringIO()
        self._console = Console(out=self._buffer, color=color)
        self._events = 0
        if as_json:
            out.write('{\n  "header": ' + _indented(header, 2) + ',\n  "events": [')

    def notice(self, item: ReplayNotice) -> None:
        if type(item.notice).__name__ in _SKIPPED:
            return
        if self.as_json:
            event = {"t": item.t, "line": item.lineno, "notice": type(item.notice).__name__,
                     **msgspec.to_builtins(item.notice, enc_hook=enc_hook)}
            self.out.write(("," if self._events else "") + "\n    " + _indented(event, 4))
            self._events += 1
            return
        self._console.show(item.notice)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        self.out.writelines(f"{_clock(item.t)}  {line}\n" for line in text.splitlines())

    def finish(self, session: Any, notes: list[str], duration_ms: float) -> None:
        if self.as_json:
            summary = _indented(_summary(session, duration_ms), 2)
            self.out.write(("\n  " if self._events else "") + f'],\n  "summary": {summary},\n'
                           f'  "notes": {_indented(notes, 2)}\n}}\n')
            return
        lines = [f"note: {note}" for note in notes]
        lines += summary_lines(session) + [f"session length: {_clock(duration_ms)}"]
        self.out.write("\n".join(lines) + "\n")


def _indented(value: Any, level: int) -> str:
    return json.dumps(value, indent=2).replace("\n", "\n" + " " * level)


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
        return _summary(self.session, self.duration_ms)

    def to_json(self) -> str:
        """The whole report as JSON."""
        return self._rendered(as_json=True).rstrip("\n")

    def render(self, color: bool = False) -> str:
        """The conversation as text, one line per notice, prefixed by its time."""
        return self._rendered(as_json=False, color=color)

    def _rendered(self, as_json: bool, color: bool = False) -> str:
        out = io.StringIO()
        renderer = _Renderer(out, self.transcript.header, as_json, color)
        for item in self.notices:
            renderer.notice(item)
        renderer.finish(self.session, self.notes, self.duration_ms)
        return out.getvalue()


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


# ---------------------------------------------------------------------------
# The command: one streaming pass (two reads of the file)


def _to_ga(lines: Iterable[Line], notes: list[str] | None) -> Iterator[Line]:
    # Beta lines translated one by one (as versions.translate_transcript does for a whole transcript).
    from .errors import ProtocolError
    from .versions import TranslationState, beta_to_ga

    state = TranslationState()
    for line in lines:
        if line.dir == "local" or line.type == RAW_FRAME_TYPE:
            yield line
            continue
        try:
            result = beta_to_ga(line.event, line.dir, state)
        except ProtocolError as exc:
            messages, event = [f"malformed, dropped: {exc}"], None
        else:
            messages, event = result.notes, result.event
        if notes is not None:
            notes += [f"line {line.lineno} ({line.type}): {message}" for message in messages]
        if event is not None:
            yield line._replace(event=event)


class _Tap:
    # Watches the lines going into the replay: the session length, and the audio when it is wanted.

    def __init__(self, keep_audio: bool):
        self.duration_ms = 0.0
        self.audio: list[Line] | None = [] if keep_audio else None

    def __call__(self, lines: Iterable[Line]) -> Iterator[Line]:
        for line in lines:
            self.duration_ms = max(self.duration_ms, line.t)
            if self.audio is not None and line.event.get("type") in _AUDIO_TYPES:
                self.audio.append(line)
            yield line


def _source(path: str, api: str, notes: list[str] | None) -> Callable[[], Iterator[Line]]:
    # Each call reads the file from the start; the notes are those of the latest read.
    def lines() -> Iterator[Line]:
        if notes is not None:
            notes.clear()
        _, raw = iter_transcript(path)
        return _to_ga(raw, notes) if api == "beta" else raw

    return lines


async def cli_replay(args: Any) -> int:
    """The ``replay`` subcommand; returns the exit code (2 for an unreadable transcript)."""
    from .errors import TranscriptError
    from .replay import recorded_function_tools

    try:
        header, first = iter_transcript(args.file)
        first.close()
        notes: list[str] = []
        tools = recorded_function_tools(_source(args.file, header["api"], None)())
        tap = _Tap(keep_audio=bool(args.audio_out or args.user_audio_out or args.play))
        ga_header = {**header, "api": "ga", "translated_from": "beta"} if header["api"] == "beta" else header
        renderer = _Renderer(sys.stdout, ga_header, args.json, color=sys.stdout.isatty() and not args.json)
        lines = _source(args.file, header["api"], notes)
        result = replay_lines(ga_header, lambda: tap(lines()), path=args.file, function_tools=tools,
                              strict=False, on_notice=renderer.notice)
    except (TranscriptError, OSError) as exc:
        print(f"error: {unreadable(exc, args.file)}", file=sys.stderr)
        return 2
    renderer.finish(result.session, notes, tap.duration_ms)
    if tap.audio is not None:
        await _export_audio(args, Transcript(ga_header, tap.audio))
    return 0


async def _export_audio(args: Any, transcript: Transcript) -> None:
    from . import timeline

    if args.audio_out:
        codec.write_wav(args.audio_out, *timeline.assistant_audio(transcript))
    if args.user_audio_out:
        codec.write_wav(args.user_audio_out, *timeline.user_audio(transcript))
    if args.play:
        await _play(*timeline.assistant_audio(transcript))


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
