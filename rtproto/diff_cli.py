"""Rendering a protocol diff for people (aligned, coloured on a terminal) and the ``diff`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rtproto.diff import DiffOptions, DiffReport, Presence, TurnDiff, diff_files
from rtproto.errors import TranscriptError
from rtproto.transcript import unreadable

_COLORS = {"-": "31", "+": "32", "~": "33", "info": "2", "head": "1", "bad": "1;31", "good": "1;32"}


class _Painter:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color or style not in _COLORS:
            return text
        return f"\x1b[{_COLORS[style]}m{text}\x1b[0m"


def render_diff(report: DiffReport, color: bool = False) -> str:
    """The report as aligned text for people (ANSI colours when ``color``)."""
    paint = _Painter(color)
    out = _render_header(report, paint)
    out += _render_renames(report, paint)
    out += _render_shapes(report, paint)
    for turn in report.turns:
        out += _render_turn(turn, paint)
    out += _render_timing(report, paint)
    out.append(_render_verdict(report, paint))
    return "\n".join(line.rstrip() for line in out) + "\n"


def _info(counts: bool, paint: _Painter) -> str:
    return "" if counts else "  " + paint("info", "(info)")


def _render_header(report: DiffReport, paint: _Painter) -> list[str]:
    lines = [paint("head", "rtproto diff")]
    for name, side in (("A", report.a), ("B", report.b)):
        model = f", {side.model}" if side.model else ""
        counts = f"{_plural(side.turns, 'turn')}, {_plural(side.responses, 'response')}"
        lines.append(f"  {name}: {side.path}  ({side.api}{model}; {counts})")
    if report.cross_api:
        lines.append("  APIs differ: renames, version-only events and field shapes are info" + (
            "" if not report.options.strict_api else " (counted: --strict-api)"))
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _render_renames(report: DiffReport, paint: _Painter) -> list[str]:
    if not report.renames:
        return []
    width = max(len(r.beta_type) for r in report.renames)
    ga_width = max(len(r.ga_type) for r in report.renames)
    lines = ["", paint("head", "Same event under another name (beta = GA)")]
    for r in report.renames:
        text = f"  {r.beta_type:<{width}} = {r.ga_type:<{ga_width}}   A {r.count_a:>3}  B {r.count_b:>3}"
        lines.append(text + _info(r.counts, paint))
    return lines


def _kinds(kinds: dict[str, int], events: int) -> str:
    if not kinds:
        return "-"
    return ", ".join(f"{kind} {n}/{events}" for kind, n in sorted(kinds.items()))


def _render_shapes(report: DiffReport, paint: _Painter) -> list[str]:
    if not report.shapes:
        return []
    lines = ["", paint("head", "Field shapes (A -> B; kind seen in n of the type's events)")]
    width = max(len(s.path) for s in report.shapes)
    current = None
    for s in report.shapes:
        if s.event_type != current:
            current = s.event_type
            lines.append(f"  {current}")
        mark = {"added": "+", "removed": "-", "type changed": "~"}[s.change]
        below = f"  (+{s.subpaths} below)" if s.subpaths else ""
        text = f"{mark} {s.path:<{width}}  A: {_kinds(s.kinds_a, s.events_a):<16} B: {_kinds(s.kinds_b, s.events_b):<16}{below}"
        lines.append("    " + paint(mark, text) + _info(s.counts, paint))
    return lines


def _render_turn(turn: TurnDiff, paint: _Painter) -> list[str]:
    if turn.label_a is None or turn.label_b is None:
        where = "A" if turn.label_a is not None else "B"
        return ["", paint("head", f"{turn.label_a or turn.label_b}: only in {where}")]
    if not (turn.presence or turn.facts_only_a or turn.facts_only_b or turn.order or turn.latency_counts):
        return []
    label = turn.label_a if turn.label_a == turn.label_b else f"{turn.label_a} / B: {turn.label_b}"
    lines = ["", paint("head", label)]
    lines += _render_presence(turn.presence, paint)
    if turn.facts_only_a or turn.facts_only_b:
        lines.append("  behaviour:")
        lines += ["    " + paint("-", f"- A only: {fact}") for fact in turn.facts_only_a]
        lines += ["    " + paint("+", f"+ B only: {fact}") for fact in turn.facts_only_b]
    for order in turn.order:
        lines.append(f"  event order, response {order.response}:")
        lines += ["    " + paint(op if op != " " else "", f"{op} {etype}") for op, etype in order.lines]
    if turn.latency_counts:
        lines.append("  " + paint("~", f"~ latency A {_ms(turn.latency_a)}  B {_ms(turn.latency_b)}  ({_signed(turn.latency_delta)})"))
    return lines


def _render_presence(presence: list[Presence], paint: _Painter) -> list[str]:
    if not presence:
        return []
    width = max(len(p.type) for p in presence)
    lines = ["  events in one only:"]
    for p in presence:
        mark = "-" if p.count_a else "+"
        note = f"  [{p.note}]" if p.note else ""
        text = f"{mark} {p.type:<{width}}  A {p.count_a:>3}  B {p.count_b:>3}{note}"
        lines.append("    " + paint(mark, text) + _info(p.counts, paint))
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f} ms"


def _render_timing(report: DiffReport, paint: _Painter) -> list[str]:
    rows = [t for t in report.turns if t.label_a is not None and t.label_b is not None and t.index > 0]
    if not rows:
        return []
    threshold = report.options.latency_threshold_ms
    note = "not counted" if threshold is None else f"counted beyond {threshold:g} ms"
    lines = ["", paint("head", f"Timing: end of user input -> first output audio ({note})")]
    lines.append(f"  {'turn':<22} {'A':>9} {'B':>9} {'delta':>9}   {'audio A':>9} {'audio B':>9}")
    for t in rows:
        text = (
            f"  {t.label_a:<22} {_ms(t.latency_a):>9} {_ms(t.latency_b):>9} {_signed(t.latency_delta):>9}"
            f"   {_ms(t.audio_ms_a):>9} {_ms(t.audio_ms_b):>9}"
        )
        lines.append(paint("~", text) if t.latency_counts else text)
    return lines


def _render_verdict(report: DiffReport, paint: _Painter) -> str:
    if report.equivalent:
        return "\n" + paint("good", "equivalent") + " (no differences that count)"
    return "\n" + paint("bad", "different") + f": {_plural(report.differences, 'difference')}"


# ---------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rtproto.run diff",
        description="Compare the protocol behaviour of two transcripts. "
        "Exit 0: equivalent, 1: different, 2: bad input.",
    )
    parser.add_argument("a", metavar="A.jsonl", help="the reference transcript")
    parser.add_argument("b", metavar="B.jsonl", help="the transcript to compare with it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--latency-threshold-ms",
        type=float,
        default=None,
        metavar="MS",
        help="count a turn whose latency differs by more than MS as a difference (default: timing is only reported)",
    )
    parser.add_argument(
        "--strict-api",
        action="store_true",
        help="between beta and GA, also count renamed events, version-only events and field shapes",
    )
    parser.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto",
        help="colour the output (auto: on a terminal unless NO_COLOR is set)",
    )
    return parser


def _use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def cli_diff(argv: Sequence[str] | None = None) -> int:
    """``diff A B``: print the report; return 0 (equivalent), 1 (different) or 2 (bad input)."""
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.latency_threshold_ms is not None and args.latency_threshold_ms < 0:
        print("error: --latency-threshold-ms must be >= 0", file=sys.stderr)
        return 2
    try:
        report = diff_files(args.a, args.b, DiffOptions(args.latency_threshold_ms, args.strict_api))
    except (TranscriptError, OSError) as exc:
        print(f"error: {unreadable(exc, args.a)}", file=sys.stderr)
        return 2
    sys.stdout.write(report.to_json() + "\n" if args.json else render_diff(report, _use_color(args.color)))
    return 0 if report.equivalent else 1

