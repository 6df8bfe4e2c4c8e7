"""``python -m rtproto.run talk``: a live voice conversation.

Builds the session configuration (instructions, voice, function tools, remote
MCP servers, local MCP servers' tools and the client-side tool policy) from
flags and an optional TOML file, opens the audio devices or WAV files, starts
the local MCP servers, connects, and hands everything to
:class:`rtproto.driver.Driver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import ipaddress
import os
import re
import shlex
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
class LocalMcpServer:
    """A local MCP server (``--mcp-local``, or ``[mcp.LABEL]`` with ``command`` or a local
    ``url``): rtproto starts it, and offers its tools to the model as function tools."""

    label: str
    command: list[str] | None = None
    url: str | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    allow: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)

    def spec(self) -> Any:
        """What :mod:`rtproto.mcp_local` starts."""
        from .mcp_local import LocalServerSpec

        return LocalServerSpec(label=self.label, command=self.command, url=self.url, env=self.env, cwd=self.cwd)


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
    echo: str = "auto"  # --echo: auto, aec, half-duplex or off (rtproto.echo.choose_mode)
    mcp: list[McpServer] = field(default_factory=list)
    mcp_local: list[LocalMcpServer] = field(default_factory=list)
    mcp_log: str | None = None  # where local MCP servers' stderr goes (default: mcp_log_path())
    tool_timeout: float = 60.0  # seconds a local MCP tool may take
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
            for server in _mcp_tables(value):
                (opts.mcp_local if isinstance(server, LocalMcpServer) else opts.mcp).append(server)
        elif name in _CONFIG_KINDS:
            setattr(opts, name, _checked(key, value, _CONFIG_KINDS[name]))
        else:
            raise UsageError(f"config: unknown key {key!r}")
    for name, value in flags.items():
        if name in ("mcp", "mcp_local", "allow", "ask", "functions"):  # lists: the flags add to the config's
            getattr(opts, name).extend(value)
        elif value is not None:  # a flag that was not given is None
            setattr(opts, name, value)
    return opts


# What each config key holds: a kind of value, checked as the file is read.
_CONFIG_KINDS: dict[str, str] = {
    "model": "text", "url": "url", "voice": "text", "instructions": "text", "input": "text", "output": "text",
    "text": "bool", "headphones": "bool", "echo": "text", "allow": "names", "ask": "names", "functions": "names",
    "approval_timeout": "seconds", "record": "text", "input_device": "text", "output_device": "text",
    "transcription_model": "text", "reconnect": "bool", "keepalive": "seconds", "mcp_log": "text",
    "tool_timeout": "seconds",
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


_MCP_KEYS = frozenset({"url", "token_env", "allow", "ask", "command", "env", "cwd", "local"})
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _mcp_tables(tables: Any) -> list[McpServer | LocalMcpServer]:
    if not isinstance(tables, dict):
        raise UsageError("config: mcp must hold [mcp.LABEL] tables")
    return [_mcp_table(label, table) for label, table in tables.items()]


def _mcp_table(label: str, table: Any) -> McpServer | LocalMcpServer:
    where = f"config [mcp.{label}]"
    if not isinstance(table, dict):
        raise UsageError(f"{where}: must be a table")
    if unknown := sorted(set(table) - _MCP_KEYS):
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if not _LABEL.fullmatch(label):
        raise UsageError(f"{where}: a label is 1-64 letters, digits, '_' or '-'")
    allow = _checked(f"[mcp.{label}] allow", table.get("allow", []), "names")
    ask = _checked(f"[mcp.{label}] ask", table.get("ask", []), "names")
    command, url, local = table.get("command"), table.get("url"), table.get("local")
    if local is not None and not isinstance(local, bool):
        raise UsageError(f"{where}: local must be true or false")
    if command is not None and url is not None:
        raise UsageError(f"{where}: give command (a local stdio server) or url, not both")
    if command is not None:
        if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
            raise UsageError(f'{where}: command must be a list of strings, e.g. ["python", "server.py"]')
        return LocalMcpServer(label, command=command, env=_env_table(where, table.get("env")),
                              cwd=_optional_text(where, "cwd", table.get("cwd")), allow=allow, ask=ask)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise UsageError(f'{where}: needs url = "https://..." (or command = [...] for a local server)')
    if "env" in table or "cwd" in table:
        raise UsageError(f"{where}: env and cwd go with command, not with url")
    if (local if local is not None else _loopback(url)):
        if "token_env" in table:
            raise UsageError(f"{where}: token_env is for a remote server (the API sends it); a local url has none")
        return LocalMcpServer(label, url=url, allow=allow, ask=ask)
    token_env = _optional_text(where, "token_env", table.get("token_env"))
    return McpServer(label=label, url=url, token_env=token_env, allow=allow, ask=ask)


def _optional_text(where: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be a string")
    return value


def _env_table(where: str, env: Any) -> dict[str, str] | None:
    if env is not None and not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise UsageError(f"{where}: env must be a table of strings")
    return env


def _loopback(url: str) -> bool:
    # The API cannot reach the user's own machine: a loopback URL can only be a local server.
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_mcp(spec: str, token_env: str | None) -> McpServer:
    """``LABEL=URL`` -> McpServer."""
    label, sep, url = spec.partition("=")
    if not sep or not label or not url.startswith(("http://", "https://")):
        raise RtprotoError(f"--mcp expects LABEL=URL with an http(s) URL, got {spec!r}")
    return McpServer(label=label, url=url, token_env=token_env)


def parse_mcp_local(spec: str) -> LocalMcpServer:
    """``LABEL=COMMAND ARGS...`` (stdio) or ``LABEL=http://HOST:PORT/mcp`` -> LocalMcpServer."""
    label, sep, value = spec.partition("=")
    if not sep or not _LABEL.fullmatch(label) or not value.strip():
        # Not the whole spec: its command line may carry a token.
        raise RtprotoError(f"--mcp-local expects LABEL='command args' or LABEL=http://HOST:PORT/mcp "
                           f"(a label is 1-64 letters, digits, '_' or '-'), got the label {label[:64]!r}")
    if value.startswith(("http://", "https://")):
        return LocalMcpServer(label, url=value)
    try:
        return LocalMcpServer(label, command=shlex.split(value))
    except ValueError as exc:
        raise RtprotoError(f"--mcp-local {label}: cannot split the command ({exc})") from None


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


def open_devices(opts: TalkOptions, console: Any) -> tuple[Any, Any]:
    """The (source, sink) pair for ``opts.echo``, which becomes the mode in use (shown on screen):
    with ``aec`` one duplex stream plays both roles, its microphone echo-cancelled."""
    from . import audio, echo

    devices = not (opts.text or opts.input or opts.output)
    available = devices and opts.echo in ("auto", "aec") and echo.aec_available()
    try:
        opts.echo, why = echo.choose_mode(opts.echo, headphones=opts.headphones, devices=devices,
                                          available=available)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if opts.echo == "aec":
        from .duplex import Duplex

        duplex = Duplex.open(echo.EchoCanceller(audio.SESSION_RATE), input_device=opts.input_device,
                             output_device=opts.output_device)
        console.info(echo.describe(opts.echo, f"{why}; device latency {duplex.lag_ms:g} ms"))
        return duplex, duplex
    if devices:
        console.info(echo.describe(opts.echo, why))
    sink = open_sink(opts)
    try:
        return open_source(opts), sink
    except BaseException:
        sink.close()
        raise


def _open_file(kind: Callable[[str], Any], path: str, flag: str) -> Any:
    try:
        return kind(path)
    except OSError as exc:
        raise RtprotoError(f"{flag} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # its message starts with the path
        raise RtprotoError(f"{flag} {exc}") from None


class SessionTools:
    """The session's tools, as they stand: Python functions (``--function``), remote MCP
    servers (``--mcp``) and the tools of local MCP servers (``--mcp-local``).

    When a local server's tools change, :meth:`tools_changed` hands the driver the new
    session configuration, runners and policy.
    """

    def __init__(self, opts: TalkOptions, functions: list[tuple[str, Callable[..., Any], events.FunctionTool]]):
        self.opts = opts
        self.functions = functions
        self.servers: Any = None  # rtproto.mcp_local.LocalServers, once started
        self.driver: Any = None  # set once connected
        self.stale = False  # the tools changed while there was no driver to take them

    async def start_local(self, stack: contextlib.AsyncExitStack, console: Any) -> None:
        """Start the local MCP servers (closed with ``stack``); one that fails is left out."""
        if not self.opts.mcp_local:
            return
        from .mcp_local import LocalServers

        log_path = self.opts.mcp_log or mcp_log_path()
        if self.opts.mcp_log is None:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)  # the default's folder; a user's must exist
        console.info(f"local MCP servers: {', '.join(s.label for s in self.opts.mcp_local)} "
                     f"(their output goes to {log_path})")
        servers = LocalServers([s.spec() for s in self.opts.mcp_local], log_path=log_path,
                               call_timeout=self.opts.tool_timeout, reserved=self.reserved_names(),
                               on_tools_changed=self.tools_changed, on_problem=console.warn,
                               secrets=console.secrets)
        try:
            self.servers = await stack.enter_async_context(servers)
        except OSError as exc:  # the log cannot be opened
            raise RtprotoError(f"--mcp-log {log_path}: {exc.strerror or exc}") from None

    def reserved_names(self) -> frozenset[str]:
        """Names a local tool is never offered under: the ``--function`` tools', and those a
        remote server's ``[mcp.LABEL]`` lists name (its policy is not the local tool's)."""
        remote = {name for server in self.opts.mcp for name in (*server.allow, *server.ask)}
        return frozenset(name for name, _, _ in self.functions) | remote

    def offered(self) -> tuple[list[Any], set[str], set[str]]:
        """The local tools offered to the model, and which of them run without asking."""
        return offer_local_tools(self.opts, self.servers.tools if self.servers is not None else [])

    def config(self) -> events.RealtimeSession:
        """The ``session.update`` payload."""
        offered, _, _ = self.offered()
        local = [events.FunctionTool(type="function", name=t.function_name, description=t.description,
                                     parameters=t.parameters) for t in offered]
        return build_session(self.opts, [tool for _, _, tool in self.functions] + local)

    def policy(self) -> ToolPolicy:
        """The client-side policy, the local tools' decisions included."""
        _, allow, ask = self.offered()
        base = build_policy(self.opts)
        return ToolPolicy(allow=base.allow | allow, ask=base.ask | ask)

    def runners(self) -> dict[str, Any]:
        """Function-tool name -> :class:`rtproto.driver.Tool`."""
        from .driver import Tool

        runners = {name: Tool.python(fn) for name, fn, _ in self.functions}
        for tool in self.offered()[0]:
            run = functools.partial(self.servers.call, tool.function_name)
            runners[tool.function_name] = Tool(run, server_label=tool.label, server_tool=tool.name)
        return runners

    async def tools_changed(self, _tools: Any = None) -> None:
        """A local server's tool list changed: the driver takes the new tools (once there is one)."""
        if self.driver is None:
            self.stale = True
            return
        self.stale = False
        await self.driver.change_tools(self.config(), self.runners(), self.policy())


def offer_local_tools(opts: TalkOptions, tools: list[Any]) -> tuple[list[Any], set[str], set[str]]:
    """Which local MCP tools the model is offered: ``(offered, allow, ask)`` by function name.

    Per server: when the user named some of its tools (``--allow``/``--ask``, or the
    ``[mcp.LABEL]`` lists; by its own name or the offered one), only those are offered,
    each decided as named. When the user named none, all are offered and the tool's
    annotations decide: a read-only tool runs, any other is asked about.
    """
    servers = {server.label: server for server in opts.mcp_local}
    offered: list[Any] = []
    allow: set[str] = set()
    ask: set[str] = set()
    for label, server in servers.items():
        allowed, asked = set(opts.allow) | set(server.allow), set(opts.ask) | set(server.ask)
        own = [tool for tool in tools if tool.label == label]
        named = [tool for tool in own if {tool.name, tool.function_name} & (allowed | asked)]
        for tool in named or own:
            offered.append(tool)
            runs = {tool.name, tool.function_name} & allowed if named else tool.read_only
            (allow if runs else ask).add(tool.function_name)
    return offered, allow, ask


def mcp_log_path() -> str:
    """Where local MCP servers' stderr goes by default: ``$XDG_STATE_HOME/rtproto/mcp-local.log``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "rtproto", "mcp-local.log")


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
    async with contextlib.AsyncExitStack() as local_servers:
        try:
            tools = SessionTools(opts, [load_function(spec) for spec in opts.functions])
            await tools.start_local(local_servers, console)
        except BaseException:
            _close_quietly(source, sink)
            raise
        return await _converse(opts, tools, url=url, api_key=api_key, console=console, approver=approver,
                               source=source, sink=sink, text_lines=text_lines)


async def _converse(opts: TalkOptions, tools: SessionTools, *, url: str, api_key: str | None, console: Any,
                    approver: Any, source: Any, sink: Any, text_lines: Any) -> Any:
    from .driver import Driver, recording
    from .errors import ConnectionClosed, ServerRefused
    from .session import Session
    from .transport import connect

    tools.stale = False
    policy = tools.policy()
    core = Session(policy=policy, function_tools=tools.runners())
    async with recording(opts.record, api="ga", url=url, model=opts.model, policy=policy.to_dict(),
                         secrets=console.secrets, on_failure=console.warn) as writer:
        try:
            async with contextlib.AsyncExitStack() as connections:
                async def open_connection() -> Any:  # each is closed when the conversation ends
                    return await connections.enter_async_context(
                        connect(url, api_key=api_key, recorder=_recorder(writer),
                                ping_interval=opts.keepalive, ping_timeout=opts.keepalive))

                driver = Driver(await open_connection(), core, sink, console, source=source, approver=approver,
                                tools=tools.runners(), recorder=writer,
                                approval_timeout=opts.approval_timeout,
                                headphones=opts.headphones or opts.echo in ("aec", "off")
                                or not _echo_path(source, sink),
                                reconnect=open_connection if opts.reconnect else None)
                tools.driver = driver
                if tools.stale:  # changed while connecting: the core and the recording take the new tools
                    await tools.tools_changed()
                by_server = await driver.run(tools.config(), text_lines)
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
    for local in opts.mcp_local:
        secrets.add_url(local.url)
        for name, value in (local.env or {}).items():
            secrets.add_url(value)  # credentials in a URL-valued variable (DB_URL=postgres://u:pw@...)
            if _SECRET_NAME.search(name):
                secrets.add(value)
    secrets.add_url(opts.url)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        secrets.add_url(os.environ.get(name))
    return secrets


# Environment variables of a local MCP server whose values are redacted wherever they show.
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSW|AUTH|CREDENTIAL|PAT$", re.IGNORECASE)


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
    if opts.mcp_local:
        from .mcp_local import require_sdk

        require_sdk()  # before any device opens
    source, sink = open_devices(opts, console)
    console.info(f"connecting to {console.secrets.url(url.split('?')[0])} ({opts.model}); "
                 "Ctrl-C ends the conversation")
    await converse(opts, url=url, api_key=api_key, console=console, approver=reader.approve,
                   source=source, sink=sink, text_lines=reader.lines() if opts.text else None)
    return 0
