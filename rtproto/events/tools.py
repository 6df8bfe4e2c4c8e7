"""Tools (function and remote MCP) and ``tool_choice`` (GA)."""

from __future__ import annotations

from typing import Any, Literal

from ._base import Model, OneOf, UNSET, UnsetType


class Tool(OneOf):
    """An entry of ``tools``: a function tool (``type`` may be omitted) or a remote MCP server."""

    __slots__ = ()
    label = "tool"


class FunctionTool(Model, Tool):
    """A function tool the model may call; the client runs it."""

    description: str | None | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    parameters: Any | None | UnsetType = UNSET
    type: Literal['function'] | None | UnsetType = UNSET


class McpToolFilter(Model):
    """A filter object to specify which tools are allowed."""

    read_only: bool | None | UnsetType = UNSET
    tool_names: list[str] | None | UnsetType = UNSET


class McpApprovalFilter(Model):
    """Specify which of the MCP server's tools require approval."""

    always: McpToolFilter | None | UnsetType = UNSET
    never: McpToolFilter | None | UnsetType = UNSET


class McpTool(Model, Tool):
    """Give the model access to additional tools via remote Model Context Protocol (MCP) servers."""

    server_label: str
    type: Literal['mcp'] = 'mcp'
    allowed_callers: list[str] | None | UnsetType = UNSET
    allowed_tools: McpToolFilter | list[str] | None | UnsetType = UNSET
    authorization: str | None | UnsetType = UNSET
    connector_id: str | None | UnsetType = UNSET
    defer_loading: bool | None | UnsetType = UNSET
    headers: dict[str, str] | None | UnsetType = UNSET
    require_approval: McpApprovalFilter | str | None | UnsetType = UNSET
    server_description: str | None | UnsetType = UNSET
    server_url: str | None | UnsetType = UNSET
    tunnel_id: str | None | UnsetType = UNSET


Tool.variants = {
    'function': FunctionTool,
    'mcp': McpTool,
}
Tool.default = FunctionTool


class ToolChoice(OneOf):
    """``tool_choice``: ``none``, ``auto``, ``required``, or a forced function or MCP tool."""

    __slots__ = ()
    strings = frozenset({'none', 'auto', 'required'})
    label = "tool_choice"


class ToolChoiceFunction(Model, ToolChoice):
    """Use this option to force the model to call a specific function."""

    name: str
    type: Literal['function'] = 'function'


class ToolChoiceMcp(Model, ToolChoice):
    """Use this option to force the model to call a specific tool on a remote MCP server."""

    server_label: str
    type: Literal['mcp'] = 'mcp'
    name: str | None | UnsetType = UNSET


ToolChoice.variants = {
    'function': ToolChoiceFunction,
    'mcp': ToolChoiceMcp,
}

UnknownTool = Tool.unknown
UnknownToolChoice = ToolChoice.unknown