"""Rendering the core's notices for a person: the live screen and the replay report.

:class:`Console` writes one line per notice (assistant speech streams on one
line as its transcript deltas arrive), and :func:`summary_lines` renders the
end-of-session summary: turns, tokens by kind and per-turn latency.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, TextIO

from . import server_errors
from .redact import Secrets

LINE_LIMIT = 2000  # characters of one line shown; the rest is cut with a marker


def _escape(code: int) -> str:
    char = chr(code)
    if char in "\n\t\r":
        return repr(char)[1:-1]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# C0 and C1 controls and DEL (ESC and CSI start terminal sequences), the bidirectional
# overrides and isolates (they reorder what is shown), and the Unicode line separators.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A),
             0x2028, 0x2029, 0x200E, 0x200F, 0x061C]
_VISIBLE = str.maketrans({code: _escape(code) for code in _CONTROLS})


def printable(text: str, limit: int | None = LINE_LIMIT) -> str:
    """``text`` as text a terminal shows and never obeys: every control character and
    escape sequence made visible (``\\x1b[2K``, ``\\r``, ``\\n``), cut at ``limit``
    characters with a marker naming the full length."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"… (cut: {len(text)} chars)"
    return text.translate(_VISIBLE)


_HOLD_LIMIT = 512  # characters of a streamed word held back at most (longer: shown as it comes)

_COLORS = {"you": "36", "assistant": "32", "tool": "35", "approval": "33", "error": "31", "note": "2"}


class Console:
    """Shows notices on ``out`` (colour only on a terminal, and never with NO_COLOR).

    Everything shown passes :func:`printable` and ``secrets`` (the values in use
    are replaced by ``[redacted]``), whatever the server sent.
    """

    def __init__(self, out: TextIO | None = None, color: bool | None = None, secrets: Secrets | None = None,
                 verbose: bool = False):
        self.out = out if out is not None else sys.stdout
        self.verbose = verbose
        self.secrets = secrets if secrets is not None else Secrets()
        if color is None:
            color = self.out.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self._streaming: str | None = None  # item id whose deltas are being printed
        self._held = ""  # the streamed text's last partial word, shown once it is whole
        self._asking: str | None = None  # a question waiting for its answer
        self._asked = False  # ... shown on the last line, the cursor after it
        self._handlers: dict[str, Callable[[Any], None]] = {
            "TranscriptDelta": self._delta,
            "TranscriptDone": self._done,
            "ToolCall": self._tool_call,
            "ToolResult": self._tool_result,
            "ApprovalRequested": self._approval_requested,
            "ApprovalAnswered": self._approval_answered,
            "PolicyViolation": lambda n: self._line("error", f"policy: {n.message}"),
            "ServerError": self._server_error,
            "ProtocolViolation": lambda n: self._line("error", f"protocol: {n.message}"),
            "Truncated": lambda n: self._line("note", f"[interrupted: assistant audio cut at {n.audio_end_ms} ms]"),
            "TurnDone": self._turn_done,
            "ToolsListed": self._tools_listed,
            "TranscriptionFailed": lambda n: self._line("error", f"! transcription failed: {n.message}"),
            "Retrying": lambda n: self._line("note", f"[{n.cause}: trying again in {n.after_ms / 1000:.1f} s "
                                                     f"({n.attempt} of {server_errors.MAX_RETRIES})]"),
            "RequestUnanswered": lambda n: self._line("error", f"warning: no answer to our response.create after "
                                                               f"{n.waited_ms / 1000:.0f} s; going on"),
            "InputTimeout": lambda n: self._line("note", "[the server heard nothing for its idle timeout]"),
            "RateLimits": self._rate_limits,
            "Resumed": lambda n: self._line("note", f"[resumed with {n.items} items"
                                                    f"{'; asking again for the unanswered turn' if n.requested else ''}]"),
        }

    def show(self, notice: Any) -> None:
        """Render one notice from the session core (unknown kinds are ignored)."""
        handler = self._handlers.get(type(notice).__name__)
        if handler is not None:
            handler(notice)

    def info(self, message: str) -> None:
        """A line of rtproto's own (connection, demo notes)."""
        self._line("note", message)

    def warn(self, message: str) -> None:
        """A problem that does not end the session (a malformed frame, a failed tool)."""
        self._line("error", f"warning: {message}")

    def prompt(self, text: str) -> None:
        """Ask the person something; the answer is read from standard input.

        Lines shown before the answer go below the question, which is then asked again.
        """
        self._end_stream()
        self._close_question()
        self._asking = printable(self.secrets.text(text))
        self._show_question()
        self.out.flush()

    def answered(self, answer: str, echo: bool) -> None:
        """The question was answered with ``answer`` (``echo``: show it, the terminal did not)."""
        if self._asking is not None and self._asked:
            self.out.write(f"{printable(answer)}\n" if echo else "")
            self.out.flush()
        self._asking, self._asked = None, False

    def ignored(self, count: int) -> None:
        """Typed input was flushed: it came before the question on screen, so it answers nothing."""
        lines = "a line" if count == 1 else f"{count} lines"
        self._line("note", f"[ignored {lines} typed before a question was shown: answer the question on screen]")

    def summary(self, session: Any) -> None:
        """The end-of-session summary of a finished core Session."""
        self._end_stream()
        self._close_question()
        for line in summary_lines(session):
            self._line("note", line)

    # -- notices ---------------------------------------------------------------

    def _delta(self, n: Any) -> None:
        if n.role != "assistant":
            return
        if self._streaming != n.item_id:
            self._end_stream()
            self._leave_question()
            self.out.write(self._paint("assistant", "assistant ▸ "))
            self._streaming = n.item_id
        self._held += n.delta
        # A secret never spans white space: show up to the last space, hold the partial word.
        cut = max(self._held.rfind(" "), self._held.rfind("\n"), len(self._held) - _HOLD_LIMIT) + 1
        if cut > 0:
            self._stream_text(self._held[:cut])
            self._held = self._held[cut:]
        self.out.flush()

    def _done(self, n: Any) -> None:
        if self._streaming == n.item_id:
            self._end_stream()
            self._show_question()
            self.out.flush()
            return
        speaker = "you" if n.role == "user" else "assistant"
        self._line(speaker, f"{speaker} ▸ {n.text}")

    def _stream_text(self, text: str) -> None:
        self.out.write(printable(self.secrets.text(text), None))

    def _tools_listed(self, n: Any) -> None:
        if n.failed:
            self._line("error", f"! listing the tools of {n.server_label} failed")
        else:
            self._line("note", f"[{n.server_label} tools: {', '.join(n.tools)}]")

    def _tool_call(self, n: Any) -> None:
        where = f"{n.server_label}." if getattr(n, "server_label", None) else ""
        self._line("tool", f"⚙ {n.kind} {where}{n.name}({n.arguments})")

    def _tool_result(self, n: Any) -> None:
        text = n.error if n.error else n.output
        self._line("error" if n.error else "tool", f"  ↳ {n.name}: {'error: ' if n.error else ''}{printable(str(text), 300)}")

    def _approval_requested(self, n: Any) -> None:
        r = n.request
        self._line("approval", f"? approval requested: {_tool_name(r.server_label, r.name)}({r.arguments})")

    def _approval_answered(self, n: Any) -> None:
        self._close_question()  # answered without a line from the person (timeout, end of input)
        verdict = "approved" if n.approve else "denied"
        who = "" if n.by == "timeout" else f" by {n.by}"  # a timeout is said by its reason
        why = f" ({n.reason})" if n.reason else ""
        self._line("approval", f"  ↳ {n.name or n.approval_request_id}: {verdict}{who}{why}")

    def _server_error(self, n: Any) -> None:
        cause = f" (caused by our {n.client_event_type})" if n.client_event_type else ""
        if n.severity == "benign":
            self._line("note", f"[server: {n.code or n.type}: {n.message}{cause}]")
        else:
            self._line("error", f"! server error {n.code or n.type}: {n.message}{cause}")

    def _turn_done(self, n: Any) -> None:
        stats = n.stats
        if stats.status not in (None, "completed"):
            details = ", ".join(str(x) for x in (stats.reason, stats.error) if x)
            self._line("error" if stats.status == "failed" else "note",
                       f"[response {stats.status}{': ' + details if details else ''}]")

    def _rate_limits(self, n: Any) -> None:
        if self.verbose:
            self._line("note", f"[rate limits: {format_rate_limits(n.limits)}]")

    # -- output ----------------------------------------------------------------

    def _end_stream(self) -> None:
        if self._streaming is not None:
            self._stream_text(self._held)
            self._held = ""
            self.out.write("\n")
            self._streaming = None

    def _line(self, kind: str, text: str) -> None:
        self._end_stream()
        self._leave_question()
        self.out.write(self._paint(kind, printable(self.secrets.text(text))) + "\n")
        self._show_question()
        self.out.flush()

    def _show_question(self) -> None:
        if self._asking is not None and not self._asked:
            self.out.write(self._paint("approval", self._asking))
            self._asked = True

    def _leave_question(self) -> None:
        # Moves off the question's line so that other output does not run into it.
        if self._asked:
            self.out.write("\n")
            self._asked = False

    def _close_question(self) -> None:
        self._leave_question()
        self._asking = None

    def _paint(self, kind: str, text: str) -> str:
        return f"\x1b[{_COLORS[kind]}m{text}\x1b[0m" if self.color else text


def _tool_name(server_label: Any, name: Any) -> str:
    # "label.tool" for an MCP tool, "tool" for a function tool; printable either way.
    where = f"{printable(str(server_label), 100)}." if server_label is not None else ""
    return f"{where}{printable(str(name), 100)}"


def approval_question(request: Any) -> str:
    """The question put to a person for an ``mcp_approval_request``: server label, tool and
    arguments, each made printable (over-long arguments are cut with a marker)."""
    where = _tool_name(request.server_label, request.name)
    return f"approve {where}({printable(str(request.arguments), LINE_LIMIT // 2)})? [y/N] "


def summary_lines(session: Any) -> list[str]:
    """Turns, tokens by kind (from ``response.done`` usage) and per-turn latency."""
    turns = list(session.turns)
    usage = session.usage
    lines = ["── summary ──", f"turns: {len(turns)}"]
    lines.append(
        f"tokens: input {usage.input_tokens} (text {usage.input_text_tokens}, audio {usage.input_audio_tokens}, "
        f"cached {usage.input_cached_tokens}) · output {usage.output_tokens} "
        f"(text {usage.output_text_tokens}, audio {usage.output_audio_tokens})"
    )
    latencies = [f"{i}: {t.latency_ms:.0f} ms" for i, t in enumerate(turns, 1) if t.latency_ms is not None]
    lines.append("latency to first audio: " + (", ".join(latencies) if latencies else "n/a"))
    limits = getattr(session, "rate_limits", None)
    if limits:
        rows = tuple((getattr(x, "name", None) or "?", getattr(x, "remaining", None), getattr(x, "limit", None),
                      getattr(x, "reset_seconds", None)) for x in limits)
        lines.append(f"rate limits: {format_rate_limits(rows)}")
    return lines


def format_rate_limits(limits: Any) -> str:
    """``requests 99/100 (reset 1.0 s), tokens ...`` from ``(name, remaining, limit, reset_seconds)`` rows."""
    def one(name: Any, remaining: Any, limit: Any, reset: Any) -> str:
        reset_text = f" (reset {reset:.1f} s)" if isinstance(reset, (int, float)) else ""
        return f"{name} {remaining if remaining is not None else '?'}/{limit if limit is not None else '?'}{reset_text}"

    return ", ".join(one(*row) for row in limits)
