"""Conversation items (GA): the nine item kinds, their content parts and MCP errors."""

from __future__ import annotations

from typing import Any, Literal

from ._base import Model, OneOf, UNSET, UnsetType


class SystemContent(Model):
    """A content part of a system message (``input_text``)."""

    text: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class UserContent(Model):
    """A content part of a user message (``input_text``, ``input_audio`` or ``input_image``)."""

    audio: str | None | UnsetType = UNSET
    detail: str | None | UnsetType = UNSET
    image_url: str | None | UnsetType = UNSET
    text: str | None | UnsetType = UNSET
    transcript: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class AssistantContent(Model):
    """A content part of an assistant message (``output_text`` or ``output_audio``)."""

    audio: str | None | UnsetType = UNSET
    text: str | None | UnsetType = UNSET
    transcript: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET


class ResponseInputItem(OneOf):
    """An entry of ``response.input``: a conversation item or an item reference."""

    __slots__ = ()
    key_fields = ("type", "role")
    label = "input item"


class ItemReference(Model, ResponseInputItem):
    """A reference to an existing item, only valid in ``response.create`` -> ``response.input``."""

    id: str
    type: Literal['item_reference'] = 'item_reference'




class ConversationItem(ResponseInputItem):
    """A conversation item, by ``type`` (and ``role`` for messages)."""

    __slots__ = ()
    key_fields = ("type", "role")
    label = "item"


class SystemMessage(Model, ConversationItem):
    """A system message in a Realtime conversation can be used to provide additional context or instructions to the model."""

    content: list[SystemContent]
    role: Literal['system'] = 'system'
    type: Literal['message'] = 'message'
    id: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET


class UserMessage(Model, ConversationItem):
    """A user message item in a Realtime conversation."""

    content: list[UserContent]
    role: Literal['user'] = 'user'
    type: Literal['message'] = 'message'
    id: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET


class AssistantMessage(Model, ConversationItem):
    """An assistant message item in a Realtime conversation."""

    content: list[AssistantContent]
    role: Literal['assistant'] = 'assistant'
    type: Literal['message'] = 'message'
    id: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET


class FunctionCall(Model, ConversationItem):
    """A function call item in a Realtime conversation."""

    arguments: str
    name: str
    type: Literal['function_call'] = 'function_call'
    id: str | None | UnsetType = UNSET
    call_id: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET


class FunctionCallOutput(Model, ConversationItem):
    """A function call output item in a Realtime conversation."""

    call_id: str
    output: str
    type: Literal['function_call_output'] = 'function_call_output'
    id: str | None | UnsetType = UNSET
    object: str | None | UnsetType = UNSET
    status: str | None | UnsetType = UNSET


class McpListedTool(Model):
    """A tool available on an MCP server."""

    input_schema: Any
    name: str
    annotations: Any | None | UnsetType = UNSET
    description: str | None | UnsetType = UNSET


class McpListTools(Model, ConversationItem):
    """A Realtime item listing tools available on an MCP server."""

    server_label: str
    tools: list[McpListedTool]
    type: Literal['mcp_list_tools'] = 'mcp_list_tools'
    id: str | None | UnsetType = UNSET


class McpError(OneOf):
    """The ``error`` of an ``mcp_call`` item."""

    __slots__ = ()
    label = "MCP error"


class McpProtocolError(Model, McpError):
    """An MCP protocol error."""

    code: int
    message: str
    type: Literal['protocol_error'] = 'protocol_error'


class McpToolExecutionError(Model, McpError):
    """An error the MCP tool raised while executing."""

    message: str
    type: Literal['tool_execution_error'] = 'tool_execution_error'


class McpHttpError(Model, McpError):
    """An HTTP error from the MCP server."""

    code: int
    message: str
    type: Literal['http_error'] = 'http_error'


McpError.variants = {
    'protocol_error': McpProtocolError,
    'tool_execution_error': McpToolExecutionError,
    'http_error': McpHttpError,
}


class McpCall(Model, ConversationItem):
    """A Realtime item representing an invocation of a tool on an MCP server."""

    id: str
    arguments: str
    name: str
    server_label: str
    type: Literal['mcp_call'] = 'mcp_call'
    approval_request_id: str | None | UnsetType = UNSET
    error: McpError | None | None | UnsetType = UNSET
    output: str | None | UnsetType = UNSET


class McpApprovalRequest(Model, ConversationItem):
    """A Realtime item requesting human approval of a tool invocation."""

    id: str
    arguments: str
    name: str
    server_label: str
    type: Literal['mcp_approval_request'] = 'mcp_approval_request'


class McpApprovalResponse(Model, ConversationItem):
    """A Realtime item responding to an MCP approval request."""

    id: str
    approval_request_id: str
    approve: bool
    type: Literal['mcp_approval_response'] = 'mcp_approval_response'
    reason: str | None | UnsetType = UNSET


ConversationItem.variants = {
    ('message', 'system'): SystemMessage,
    ('message', 'user'): UserMessage,
    ('message', 'assistant'): AssistantMessage,
    ('function_call', None): FunctionCall,
    ('function_call_output', None): FunctionCallOutput,
    ('mcp_approval_response', None): McpApprovalResponse,
    ('mcp_list_tools', None): McpListTools,
    ('mcp_call', None): McpCall,
    ('mcp_approval_request', None): McpApprovalRequest,
}


ResponseInputItem.variants = {**ConversationItem.variants, ('item_reference', None): ItemReference}

UnknownResponseInputItem = ResponseInputItem.unknown
UnknownConversationItem = ConversationItem.unknown  # a future item kind ("reasoning"...), kept as JSON
UnknownMcpError = McpError.unknown