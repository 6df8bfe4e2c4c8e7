"""``python -m rtproto.run talk``: a live voice conversation.

Builds the session configuration (instructions, voice, function tools, remote
MCP servers and the client-side tool policy) from flags and an optional TOML
file, opens the audio devices or WAV files, connects, and hands everything to
:class:`rtproto.driver.Driver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from . import events
from .errors import AudioDeviceError, RtprotoError, UsageError
from .policy import ToolPolicy
from .redact import Secrets

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant. Be brief."


@dataclass
class McpServer:
    """A remote MCP server given with ``--mcp LABEL=URL``; its token comes from an env variable."""

    label: str
    url: str
    token_env: str | None = None
    allow: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)

    def tool(self, allow: set[str], ask: set[str]) -> events.McpTool:
        """The session's MCP tool: allowed_tools and require_approval follow the policy."""
        allow, ask = allow | set(self.allow), ask | set(self.ask)
        token = os.environ.get(self.token_env) if self.token_env else None
        if self.token_env and not token:
            raise RtprotoError(f"--mcp {self.label}: the environment variable {self.token_env} is not set")
        tool = events.McpTool(server_label=self.label, server_url=self.url)
        if token:
            tool.authorization = token
        if allow or ask:
            tool.allowed_tools = sorted(allow | ask)
            tool.require_approval = events.McpApprovalFilter(
                always=events.McpToolFilter(tool_names=sorted(ask)) if ask else events.UNSET,
                never=events.McpToolFilter(tool_names=sorted(allow)) if allow else events.UNSET,
            )
        else:
            tool.require_approval = "always"
        return tool


@dataclass
class TalkOptions:
    """Everything a live session needs; flags override the ``--config`` file."""

    model: str = DEFAULT_MODEL
    url: str | None = None
    voice: str | None = None
    instructions: str = DEFAULT_INSTRUCTIONS
    input: str | None = None
    output: str | None = None
    text: bool = False
    headphones: bool = False
    mcp: list[McpServer] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    approval_timeout: float = 30.0
    record: str | None = None
    input_device: str | None = None
    output_device: str | None = None
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    reconnect: bool = True
    keepalive: float = 10.0  # seconds between pings, and without a pong before the connection counts as lost


def load_config(path: str) -> dict[str, Any]:
    """Read a TOML config file (same keys as the flags; ``[mcp.LABEL]`` tables)."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise RtprotoError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path}: {exc}") from None


def options_from(config: dict[str, Any], flags: dict[str, Any]) -> TalkOptions:
    """Merge a config mapping and parsed flags (flags that were given win).

    Raises :class:`UsageError` naming a config key that is unknown or of the wrong type.
    """
    opts = TalkOptions()
    for key, value in config.items():
        name = key.replace("-", "_")
        if name == "mcp":
            opts.mcp.extend(_mcp_tables(value))
        elif name in _CONFIG_KINDS:
            setattr(opts, name, _checked(key, value, _CONFIG_KINDS[name]))
        else:
            raise UsageError(f"config: unknown key {key!r}")
    for name, value in flags.items():
        if name == "mcp":
            opts.mcp.extend(value)
        elif name in ("allow", "ask", "functions"):
            getattr(opts, name).extend(value)
        elif value is not None:  # a flag that was not given is None
            setattr(opts, name, value)
    return opts


# What each config key holds: a kind of value, checked as the file is read.
_CONFIG_KINDS: dict[str, str] = {
    "model": "text", "url": "url", "voice": "text", "instructions": "text", "input": "text", "output": "text",
    "text": "bool", "headphones": "bool", "allow": "names", "ask": "names", "functions": "names",
    "approval_timeout": "seconds", "record": "text", "input_device": "text", "output_device": "text",
    "transcription_model": "text", "reconnect": "bool", "keepalive": "seconds",
}


def _checked(key: str, value: Any, kind: str) -> Any:
    ok = {
        "text": isinstance(value, str),
        "url": isinstance(value, str) and not ws_url_problem(value),
        "bool": isinstance(value, bool),
        "names": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "seconds": positive_seconds(value),
    }[kind]
    if not ok:
        expected = {"text": "a string", "url": "a ws:// or wss:// URL", "bool": "true or false",
                    "names": "a list of strings", "seconds": "a positive number of seconds"}[kind]
        raise UsageError(f"config: {key} must be {expected}, got {value!r:.80}")
    return list(value) if kind == "names" else value


def positive_seconds(value: Any) -> bool:
    """A number of seconds a timeout or an interval can be: positive and finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


def ws_url_problem(text: str) -> str | None:
    """What keeps ``text`` from being a websocket URL to connect to, or None."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parses the port: "ws://h:x" fails here
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return "expected ws://HOST[:PORT]/PATH or wss://..."
    return None


def _mcp_tables(tables: Any) -> list[McpServer]:
    if not isinstance(tables, dict):
        raise UsageError("config: mcp must hold [mcp.LABEL] tables")
    servers = []
    for label, table in tables.items():
        if not isinstance(table, dict) or not isinstance(table.get("url"), str):
            raise UsageError(f'config [mcp.{label}]: needs url = "https://..."')
        token_env = table.get("token_env")
        if token_env is not None and not isinstance(token_env, str):
            raise UsageError(f"config [mcp.{label}]: token_env must be a string")
        allow = _checked(f"[mcp.{label}] allow", table.get("allow", []), "names")
        ask = _checked(f"[mcp.{label}] ask", table.get("ask", []), "names")
        servers.append(McpServer(label=label, url=table["url"], token_env=token_env, allow=allow, ask=ask))
    return servers


def parse_mcp(spec: str, token_env: str | None) -> McpServer:
    """``LABEL=URL`` -> McpServer."""
    label, sep, url = spec.partition("=")
    if not sep or not label or not url.startswith(("http://", "https://")):
        raise RtprotoError(f"--mcp expects LABEL=URL with an http(s) URL, got {spec!r}")
    return McpServer(label=label, url=url, token_env=token_env)


def load_function(spec: str) -> tuple[str, Callable[..., Any], events.FunctionTool]:
    """``module:function`` -> (name, callable, FunctionTool with a schema from its signature)."""
    module_name, _, attr = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise RtprotoError(f"--function {spec}: cannot load it ({exc})") from None
    return attr, function, function_tool(attr, function)


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def function_tool(name: str, function: Callable[..., Any]) -> events.FunctionTool:
    """A FunctionTool whose parameters come from the callable's signature and docstring."""
    properties, required = {}, []
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        kind = _JSON_TYPES.get(param.annotation if not isinstance(param.annotation, str) else
                               {"str": str, "int": int, "float": float, "bool": bool}.get(param.annotation), "string")
        properties[param.name] = {"type": kind}
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    return events.FunctionTool(
        type="function", name=name, description=inspect.getdoc(function) or name,
        parameters={"type": "object", "properties": properties, "required": required},
    )


def build_session(opts: TalkOptions, function_tools: list[events.FunctionTool]) -> events.RealtimeSession:
    """The ``session.update`` payload for these options."""
    allow, ask = set(opts.allow), set(opts.ask)
    tools = [*function_tools, *(server.tool(allow, ask) for server in opts.mcp)]
    audio_in = events.AudioInput(format=events.AudioPCM(type="audio/pcm", rate=24000),
                                 turn_detection=events.ServerVad(type="server_vad"))
    if opts.transcription_model:
        audio_in.transcription = events.AudioTranscription(model=opts.transcription_model)
    audio_out = events.AudioOutput(format=events.AudioPCM(type="audio/pcm", rate=24000))
    if opts.voice:
        audio_out.voice = opts.voice
    session = events.RealtimeSession(type="realtime", model=opts.model, instructions=opts.instructions,
                                     audio=events.AudioConfig(input=audio_in, output=audio_out))
    if tools:
        session.tools = tools
    return session


def build_policy(opts: TalkOptions) -> ToolPolicy:
    """The client-side policy: the tools named by ``--allow`` run without asking, every other is asked."""
    allow = set(opts.allow).union(*(s.allow for s in opts.mcp))
    ask = set(opts.ask).union(*(s.ask for s in opts.mcp))
    return ToolPolicy(allow=allow, ask=ask)


def open_source(opts: TalkOptions) -> Any:
    """The microphone role: a WAV file, the default microphone, or nothing in --text mode."""
    from . import audio

    if opts.text:
        return None
    if opts.input:
        return _open_file(audio.WavSource, opts.input, "--input")
    return audio.Microphone(device=opts.input_device)


def open_sink(opts: TalkOptions) -> Any:
    """The speaker role: a WAV file, the default speaker, or (text mode without one) nowhere."""
    from . import audio

    if opts.output:
        return _open_file(audio.WavSink, opts.output, "--output")
    try:
        return audio.Speaker(device=opts.output_device)
    except AudioDeviceError:
        if opts.text:
            return audio.NullSink()
        raise


def _open_file(kind: Callable[[str], Any], path: str, flag: str) -> Any:
    try:
        return kind(path)
    except OSError as exc:
        raise RtprotoError(f"{flag} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # its message starts with the path
        raise RtprotoError(f"{flag} {exc}") from None





def _recorder(writer: Any) -> Any:
    if writer is None:
        return None
    return lambda direction, frame: writer.client(frame) if direction == "client" else writer.server(frame)


async def converse(opts: TalkOptions, *, url: str, api_key: str | None, console: Any,
                   approver: Any, source: Any, sink: Any, text_lines: Any = None) -> Any:
    """Connect to ``url`` and hold one conversation; returns the finished core Session.

    The transcript (``opts.record``) is complete whatever ends the conversation:
    every line is flushed as it happens, and the close is recorded last.
    """
    from .driver import Driver, recording
    from .errors import ConnectionClosed, ServerRefused
    from .session import Session
    from .transport import connect

    try:
        functions = [load_function(spec) for spec in opts.functions]
        session_config = build_session(opts, [tool for _, _, tool in functions])
    except BaseException:
        _close_quietly(source, sink)
        raise
    policy = build_policy(opts)
    core = Session(policy=policy, function_tools=[name for name, _, _ in functions])
    async with recording(opts.record, api="ga", url=url, model=opts.model, policy=policy.to_dict(),
                         secrets=console.secrets, on_failure=console.warn) as writer:
        try:
            async with contextlib.AsyncExitStack() as connections:
                async def open_connection() -> Any:  # each is closed when the conversation ends
                    return await connections.enter_async_context(
                        connect(url, api_key=api_key, recorder=_recorder(writer),
                                ping_interval=opts.keepalive, ping_timeout=opts.keepalive))

                driver = Driver(await open_connection(), core, sink, console, source=source, approver=approver,
                                tools={name: fn for name, fn, _ in functions}, recorder=writer,
                                approval_timeout=opts.approval_timeout,
                                headphones=opts.headphones or not _echo_path(source, sink),
                                reconnect=open_connection if opts.reconnect else None)
                by_server = await driver.run(session_config, text_lines)
            _record_close(writer, 1000, "", "server" if by_server else "client")
        except ConnectionClosed as exc:
            _record_close(writer, exc.code, exc.reason, "client" if exc.by == "client" else "server")
            raise
        except ServerRefused:  # a fatal error: leaving `connect` closed the connection with 1000
            _record_close(writer, 1000, "", "client")
            raise
        except asyncio.CancelledError:  # Ctrl-C: leaving `connect` closed the connection with 1000
            _record_close(writer, 1000, "", "client")
            raise
        finally:
            _close_quietly(source, sink)
            console.summary(core)
    return core


def _echo_path(source: Any, sink: Any) -> bool:
    # Only a microphone can hear a speaker; a WAV file is never muted while the assistant speaks.
    from .audio import Microphone, Speaker

    return isinstance(source, Microphone) and isinstance(sink, Speaker)


def _record_close(writer: Any, code: int | None, reason: str, by: str) -> None:
    if writer is not None:
        writer.local({"type": "connection.closed", "code": code, "reason": reason, "by": by})


def _close_quietly(*devices: Any) -> None:
    for device in devices:
        if device is not None:
            device.close()


def session_secrets(opts: TalkOptions, api_key: str | None, secrets: Secrets | None = None) -> Secrets:
    """Every secret value this session uses, added to ``secrets``: the API key, the MCP
    tokens, and the credentials in the URL and in the proxy settings."""
    secrets = secrets if secrets is not None else Secrets()
    secrets.add(api_key)
    for server in opts.mcp:
        secrets.add(os.environ.get(server.token_env) if server.token_env else None)
        secrets.add_url(server.url)
    secrets.add_url(opts.url)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        secrets.add_url(os.environ.get(name))
    return secrets


def check_record_path(path: str | None) -> None:
    """Refuse a ``--record`` path whose folder does not exist, before any device or file is opened."""
    if path is not None and not os.path.isdir(os.path.dirname(path) or "."):
        raise RtprotoError(f"--record {path}: no such directory")


async def talk(opts: TalkOptions, *, api_key: str | None, secrets: Secrets | None = None,
               verbose: bool = False) -> int:
    """``talk`` against the live API (or ``--url``); returns the exit code.

    ``secrets`` (the CLI's, which its log lines and error messages pass) learns
    every secret value of the session."""
    from .console import Console
    from .stdin import StdinReader
    from .transport import realtime_url, with_model

    url = with_model(opts.url, opts.model) if opts.url else realtime_url(opts.model)
    check_record_path(opts.record)
    console = Console(secrets=session_secrets(opts, api_key, secrets), verbose=verbose)
    reader = StdinReader(prompt=console.prompt, answered=console.answered, ignored=console.ignored,
                         answers_ahead=not opts.text).start()
    sink = open_sink(opts)
    try:
        source = open_source(opts)
    except BaseException:
        sink.close()
        raise
    console.info(f"connecting to {console.secrets.url(url.split('?')[0])} ({opts.model}); "
                 "Ctrl-C ends the conversation")
    await converse(opts, url=url, api_key=api_key, console=console, approver=reader.approve,
                   source=source, sink=sink, text_lines=reader.lines() if opts.text else None)
    return 0
