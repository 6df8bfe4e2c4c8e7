"""The command line: ``python -m rtproto.run [talk|replay|serve|relay|diff|check] ...``.

``talk`` (the default) holds a live voice conversation. With no
``OPENAI_API_KEY`` and no ``--url`` (or with ``--demo``) it talks instead to
the built-in local server playing a bundled transcript, so a newcomer sees the
whole MCP approval flow offline. Exit codes: 0 normal end (Ctrl-C included),
1 error, 2 usage, 143 after SIGTERM and 129 after SIGHUP (each ends the way
Ctrl-C does: the close recorded, the summary shown, files finalised).

Nothing reaches the terminal raw: every message passes the console's
:func:`~rtproto.console.printable` and the session's :class:`~rtproto.redact.Secrets`,
and so does every log line at any ``-v``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Awaitable

from .console import printable
from .errors import AuthenticationError, ConnectionClosed, RtprotoError, UsageError
from .redact import Secrets

SUBCOMMANDS = ("talk", "replay", "serve", "diff", "check", "relay")
DEMO_TRANSCRIPT = Path(__file__).parent / "data" / "demo.jsonl"


def _talk_parser(sub: Any) -> None:
    p = sub.add_parser("talk", help="a live voice conversation (the default)",
                       description="Talk to gpt-realtime: microphone in, speaker out, tools and approvals.")
    p.add_argument("--model", help="model name (default gpt-realtime)")
    p.add_argument("--url", type=_ws_url, help="websocket endpoint (default wss://api.openai.com/v1/realtime)")
    p.add_argument("--voice", help="assistant voice, e.g. marin or cedar")
    p.add_argument("--instructions", help="system instructions")
    p.add_argument("--input", metavar="FILE.wav", help="speak this WAV file instead of the microphone")
    p.add_argument("--output", metavar="FILE.wav", help="write the assistant's audio here instead of the speaker")
    p.add_argument("--text", action="store_true", default=None, help="type messages (standard input) instead of speaking")
    p.add_argument("--headphones", action="store_true", default=None, help="keep the microphone open while the assistant speaks")
    p.add_argument("--echo", choices=("auto", "aec", "half-duplex", "off"),
                   help="on speakers: cancel the echo (aec, needs rtproto[aec]), mute the microphone while the "
                        "assistant speaks (half-duplex), or neither (off); default auto: aec when installed")
    p.add_argument("--mcp", action="append", default=[], type=_mcp_spec, metavar="LABEL=URL",
                   help="a remote MCP server (repeatable)")
    p.add_argument("--mcp-token-env", metavar="VAR", help="environment variable holding the MCP servers' token")
    p.add_argument("--mcp-local", action="append", default=[], type=_mcp_local_spec,
                   metavar="LABEL='COMMAND ARGS'|LABEL=http://HOST:PORT/mcp",
                   help="a local MCP server whose tools rtproto runs (repeatable; needs rtproto[mcp])")
    p.add_argument("--mcp-log", metavar="FILE", help="where local MCP servers' output goes "
                   "(default $XDG_STATE_HOME/rtproto/mcp-local.log)")
    p.add_argument("--tool-timeout", type=_seconds, metavar="SECONDS",
                   help="a local MCP tool call that takes longer fails (default 60)")
    p.add_argument("--allow", action="append", default=[], metavar="TOOL", help="tool allowed without asking")
    p.add_argument("--ask", action="append", default=[], metavar="TOOL", help="tool that needs your yes")
    p.add_argument("--function", dest="functions", action="append", default=[], metavar="MODULE:NAME",
                   help="a Python callable offered to the model as a function tool (repeatable)")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with any of these settings")
    p.add_argument("--approval-timeout", type=_seconds, metavar="SECONDS", help="deny unanswered approvals after this (default 30)")
    p.add_argument("--record", metavar="FILE.jsonl", help="record every frame into a transcript")
    p.add_argument("--keepalive", type=_seconds, metavar="SECONDS",
                   help="ping the server this often; a connection without a pong for as long is lost (default 10)")
    p.add_argument("--no-reconnect", dest="reconnect", action="store_false", default=None,
                   help="end the conversation when the connection is lost (default: reconnect and resume)")
    p.add_argument("--input-device", help="microphone: index or part of its name")
    p.add_argument("--output-device", help="speaker: index or part of its name")
    p.add_argument("--demo", action="store_true", help="talk to the built-in local server (the default without an API key)")
    p.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    p.add_argument("-v", "--verbose", action="count", default=0)


def _mcp_spec(spec: str) -> str:
    # A malformed --mcp is a usage error (exit 2), reported before anything starts.
    from .talk import parse_mcp

    try:
        parse_mcp(spec, None)
    except RtprotoError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--mcp ")) from None
    return spec


def _mcp_local_spec(spec: str) -> Any:
    from .talk import parse_mcp_local

    try:
        return parse_mcp_local(spec)
    except RtprotoError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--mcp-local ")) from None


def _ws_url(text: str) -> str:
    # A URL that cannot be connected to is a usage error (exit 2), told before anything starts.
    from .talk import ws_url_problem

    problem = ws_url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _seconds(text: str) -> float:
    from .talk import positive_seconds

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not positive_seconds(value):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _replay_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="read a recorded transcript offline",
                       description="Print a recorded conversation as a person reads it, with a summary.")
    p.add_argument("file", metavar="FILE.jsonl")
    p.add_argument("--audio-out", metavar="FILE.wav", help="write the assistant's audio at its recorded times")
    p.add_argument("--user-audio-out", metavar="FILE.wav", help="write the user's audio at its recorded times")
    p.add_argument("--play", action="store_true", help="play the assistant's audio through the speaker")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _serve_parser(sub: Any) -> None:
    from .server import port_number

    p = sub.add_parser("serve", help="serve a transcript as a local Realtime server",
                       description="Play the server side of a transcript to any Realtime client.")
    p.add_argument("file", metavar="FILE.jsonl")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8765)
    p.add_argument("--speed", default=1.0, type=_speed, help="'max', or a factor of the recorded pacing (default 1)")
    p.add_argument("--strict", action="store_true", help="close the connection when the client departs from the recording")


def _speed(text: str) -> str | float:
    if text == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'max' or a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the speed must be positive, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (talk, replay, serve, diff, check)."""
    parser = argparse.ArgumentParser(
        prog="python -m rtproto.run",
        description="rtproto: talk to the OpenAI Realtime API, and record (relay), replay, serve, diff and check its "
                    "transcripts.",
        epilog="With no command, 'talk' runs; without OPENAI_API_KEY it runs the offline demo. "
               "'python -m rtproto.run COMMAND --help' describes each command.")
    sub = parser.add_subparsers(dest="command", metavar="{talk,replay,serve,relay,diff,check}")
    _talk_parser(sub)
    _replay_parser(sub)
    _serve_parser(sub)
    from .relay import add_relay_parser

    add_relay_parser(sub)
    sub.add_parser("diff", help="compare the protocol behaviour of two transcripts", add_help=False)
    sub.add_parser("check", help="lint a transcript against the protocol model", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*SUBCOMMANDS, "-h", "--help"):
        argv.insert(0, "talk")
    if argv[0] in ("diff", "check"):
        return _delegate(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    secrets = Secrets([os.environ.get("OPENAI_API_KEY")])
    _configure_logging(getattr(args, "verbose", 0), secrets)
    try:
        return _run_until_signal(_dispatch(args, secrets))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # the reader of our output went away (`... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except UsageError as exc:
        _error(secrets, str(exc))
        return 2
    except Exception as exc:  # noqa: BLE001 - one line for the person, whatever went wrong
        _error(secrets, _explain(exc))
        logging.getLogger("rtproto").debug("the error's traceback", exc_info=True)
    return 1


def _explain(exc: Exception) -> str:
    match exc:
        case AuthenticationError():
            return f"{exc}. Check OPENAI_API_KEY."
        case ConnectionClosed():
            return str(exc)  # who closed it, with which code and why
        case RtprotoError():
            return str(exc)
        case OSError(filename=filename, strerror=strerror):  # a file named on the command line
            return f"{f'{filename}: ' if filename else ''}{strerror or exc}"
        case _:
            return f"unexpected {type(exc).__name__}: {exc} (-v shows where)"


def _error(secrets: Secrets, message: str) -> None:
    print(f"error: {printable(secrets.text(message))}", file=sys.stderr)


_STOPPING_SIGNALS = {signal.SIGTERM: 143, signal.SIGHUP: 129}


def _run_until_signal(main: Awaitable[int]) -> int:
    """``asyncio.run(main)``; SIGTERM and SIGHUP cancel it as Ctrl-C does, then exit 128 + signal."""
    received: list[int] = []

    async def guarded() -> int:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        for sig in _STOPPING_SIGNALS:
            loop.add_signal_handler(sig, lambda s=sig: (received.append(s), task.cancel()))
        return await main

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if not received:
            raise
        return _STOPPING_SIGNALS[received[0]]


class _Scrubbed(logging.Formatter):
    """Log lines as printable text, with the session's secrets redacted."""

    def __init__(self, secrets: Secrets):
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(printable(self.secrets.raw_text(line)) for line in super().format(record).split("\n"))


def _configure_logging(verbosity: int, secrets: Secrets) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_Scrubbed(secrets))
    logging.basicConfig(level=logging.WARNING - 10 * verbosity, handlers=[handler], force=True)


def _delegate(command: str, argv: list[str]) -> int:
    if command == "diff":
        from .diff_cli import cli_diff

        return cli_diff(argv)
    from .check import cli_check

    return cli_check(argv)


async def _dispatch(args: argparse.Namespace, secrets: Secrets) -> int:
    if args.command == "replay":
        from .report import cli_replay

        return await cli_replay(args)
    if args.command == "relay":
        from .relay import cli_relay

        return await cli_relay(args)
    if args.command == "serve":
        from .server import cli_serve

        return await cli_serve(args)
    return await _talk(args, secrets)


async def _talk(args: argparse.Namespace, secrets: Secrets) -> int:
    from . import talk

    if args.list_devices:
        from .audio import list_devices

        print(list_devices())
        return 0
    opts = _talk_options(args)
    if args.demo or (not opts.url and not os.environ.get("OPENAI_API_KEY")):
        from .demo import run_demo

        return await run_demo(opts, DEMO_TRANSCRIPT, explicit=args.demo)
    return await talk.talk(opts, api_key=os.environ.get("OPENAI_API_KEY"), secrets=secrets,
                           verbose=args.verbose > 0)


def _talk_options(args: argparse.Namespace) -> Any:
    from . import talk

    config = talk.load_config(args.config) if args.config else {}
    flags = {name: getattr(args, name) for name in (
        "model", "url", "voice", "instructions", "input", "output", "text", "headphones", "echo", "allow", "ask",
        "functions", "approval_timeout", "record", "input_device", "output_device", "reconnect", "keepalive",
        "mcp_local", "mcp_log", "tool_timeout")}
    flags["mcp"] = [talk.parse_mcp(spec, args.mcp_token_env) for spec in args.mcp]
    return talk.options_from(config, flags)


if __name__ == "__main__":
    sys.exit(main())
