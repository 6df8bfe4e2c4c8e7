"""Tools: the client-side tool policy, and the session's rules for MCP and function tools.

:class:`ToolPolicy` says which tools run freely and which need a person's yes. :class:`ToolRules` is the tool half of
:class:`rtproto.session.Session`, composed into it: it owns the tool state and
reaches the conversation only through the :class:`Conversation` port:

* an ``mcp_approval_request`` is approved (policy ``allow``) or put to a person
  (:class:`~rtproto.actions.AskApproval`); a person's answer, or the edge's
  report that nobody answered in time (denied with :data:`TIMEOUT_REASON`),
  becomes an ``mcp_approval_response`` item;
* an ``mcp_call`` that runs without the policy's ``allow`` or a person's yes to
  its approval request is a :class:`~rtproto.actions.PolicyViolation` and
  cancels its response once; a completed call (``output`` or ``error``) owes
  the follow-up ``response.create``, unless it was a violation;
* a ``function_call`` runs only when its item is ``completed`` and its
  response completed too (it is held until ``response.done``): a registered
  name the policy allows becomes a :class:`~rtproto.actions.CallFunction`; one
  it asks about is put to a person first (a :class:`~rtproto.actions.FunctionApproval`),
  and a no, or nobody answering in time, is answered with an output saying it
  was denied; an unknown name is answered with an error output. Outputs owe the
  follow-up ``response.create``. A call cut off (an ``incomplete`` item, a
  cancelled or failed response) is shown, never run and never answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rtproto.actions import (
    ApprovalAnswered, ApprovalRequested, AskApproval, CallFunction, FunctionApproval, Output, PolicyViolation,
    ProtocolViolation, Question, ToolCall, ToolResult, ToolsListed,
)
from rtproto.errors import LocalProtocolError
from rtproto.events import (
    UNSET, ConversationItemCreate, FunctionCall, FunctionCallOutput, McpApprovalRequest, McpApprovalResponse, McpCall,
    McpListTools, McpListToolsFailed, ResponseCancel, ResponseMcpCallArgumentsDone, value_at,
)

__all__ = ["TIMEOUT_REASON", "Conversation", "Decision", "ToolPolicy", "ToolRules"]

Decision = Literal["allow", "ask"]
TIMEOUT_REASON = "timed out"
# Item ids the client chooses: never like the server's own (``item_``, ``mcpr_``, ``fc_``, ...).
CLIENT_ITEM_PREFIX = "rtproto_"


def _mcp_error_text(error: Any) -> str:
    code = value_at(error, "code")
    return f"{value_at(error, 'type') or 'error'}{f' {code}' if code is not None else ''}: {value_at(error, 'message')}"


@dataclass(frozen=True)
class ToolPolicy:
    """Tool names that run without asking (``allow``) and that need a person's yes (``ask``).

    Default deny: an MCP tool runs only when ``allow`` names it or a person says
    yes, and a question nobody answers (no person, end of input, the timeout) is a
    no. ``ask`` names the tools a session expects to ask about (a remote MCP server
    is told to require approval for them, and only the named tools are offered to
    the model); an unnamed MCP tool is asked about all the same. A function tool
    the edge registered runs unless ``ask`` names it (registering it is the
    consent). ``allow`` wins when a name is in both sets.
    """

    allow: frozenset[str] = frozenset()
    ask: frozenset[str] = frozenset()

    def __init__(self, allow: Iterable[str] = (), ask: Iterable[str] = ()):
        for label, names in (("allow", allow), ("ask", ask)):
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise TypeError(f"ToolPolicy {label} must be a collection of tool names, got {names!r:.80}")
        object.__setattr__(self, "allow", frozenset(allow))
        object.__setattr__(self, "ask", frozenset(ask))

    def decide(self, name: str, unnamed: Decision = "ask") -> Decision:
        """``"allow"`` for the tools named in ``allow``, ``"ask"`` for those in ``ask``,
        else ``unnamed``."""
        if name in self.allow:
            return "allow"
        return "ask" if name in self.ask else unnamed

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolPolicy:
        """Build a policy from ``{"allow": [...], "ask": [...]}`` (both keys optional).

        Raises :class:`ValueError` naming the bad key.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a tool policy must be an object with 'allow' and 'ask' lists, got {data!r:.80}")
        extra = set(data) - {"allow", "ask"}
        if extra:
            raise ValueError(f"unknown tool policy key(s): {', '.join(sorted(map(str, extra)))}")
        for key in ("allow", "ask"):
            names = data.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"tool policy '{key}' must be a list of tool names, got {names!r:.80}")
        return cls(data.get("allow", ()), data.get("ask", ()))

    def to_dict(self) -> dict[str, list[str]]:
        """``{"allow": [...], "ask": [...]}``, sorted: what :meth:`from_dict` reads back."""
        return {"allow": sorted(self.allow), "ask": sorted(self.ask)}


class Conversation(Protocol):
    """What the tool rules need of the conversation they serve (the session core)."""

    def emit(self, event: Any, now_ms: float) -> Output:
        """Send a client event (numbered, tracked)."""

    def flush(self, now_ms: float) -> list[Output]:
        """Send the owed follow-up ``response.create`` if the conversation is idle."""

    def owe_followup(self) -> None:
        """A tool result owes the model a follow-up ``response.create``."""

    def first(self, what: str, key: str) -> bool:
        """True the first time ``(what, key)`` is seen."""

    def item(self, item_id: str) -> Any:
        """The conversation's item with this id, or None."""

    def running_response(self) -> str | None:
        """The id of the response in progress, unless it is being cancelled."""

    def response_open(self, response_id: str) -> bool:
        """True while ``response_id`` has started and is not done."""


class ToolRules:
    """The tool half of :class:`rtproto.session.Session` (see the module docstring)."""

    def __init__(self, policy: ToolPolicy | None, function_tools: Iterable[str], conversation: Conversation):
        self._conversation = conversation
        self.policy = policy if policy is not None else ToolPolicy()
        self.function_tools = frozenset(function_tools)
        self._approvals: dict[str, Question] = {}  # waiting for a person
        self._asked_calls: dict[str, ToolCall] = {}  # function calls whose question is in _approvals
        self._function_questions: set[str] = set()  # ids of questions about function calls (their call_ids)
        self._answered: set[str] = set()
        self._approved: set[str] = set()  # approval requests a person said yes to
        self._calls: dict[str, ToolCall] = {}  # function calls waiting for their result
        self._held: dict[str, list[ToolCall]] = {}  # completed calls waiting for their response's done
        self._returned: set[str] = set()
        self._violating: set[str] = set()
        self._approval_count = 0

    @property
    def waiting(self) -> bool:
        """A function result or a person's answer is still to come."""
        return bool(self._calls or self._approvals)

    def forget(self) -> None:
        """The connection is gone: its approvals and calls can no longer be answered."""
        self._approvals.clear()
        self._asked_calls.clear()
        self._calls.clear()
        self._held.clear()

    @property
    def pending_approvals(self) -> dict[str, Question]:
        """Questions a person was asked and has not answered, by id (a function call's: its ``call_id``)."""
        return dict(self._approvals)

    def set_tools(self, function_tools: Iterable[str], policy: ToolPolicy) -> None:
        """The edge's function tools or the policy changed (an MCP server's tools changed):
        calls from now on are decided by these. Calls already running finish."""
        self.function_tools = frozenset(function_tools)
        self.policy = policy

    @property
    def pending_calls(self) -> dict[str, CallFunction]:
        """Function calls handed to the edge and still without a result, by ``call_id``."""
        return {c.call_id: CallFunction(c.call_id, c.name, c.arguments) for c in self._calls.values()}

    def answer_approval(self, approval_request_id: str, approve: bool, reason: str | None = None,
                        now_ms: float = 0.0) -> list[Output]:
        """A person answered an approval request: send the ``mcp_approval_response`` item
        (then the follow-up ``response.create`` when idle)."""
        self._check_approval(approval_request_id)
        if not isinstance(approve, bool) or not (reason is None or isinstance(reason, str)):
            raise LocalProtocolError(f"approve must be a bool and reason a string or None, got {approve!r}, {reason!r}")
        return self._answer(self._approvals[approval_request_id], approve, reason, "person", now_ms)

    def approval_timed_out(self, approval_request_id: str, now_ms: float = 0.0) -> list[Output]:
        """Nobody answered an approval request before the edge's deadline (the edge keeps
        the clock): deny it with :data:`TIMEOUT_REASON`, reported as answered by
        ``"timeout"`` (then the follow-up ``response.create`` when idle)."""
        self._check_approval(approval_request_id)
        return self._answer(self._approvals[approval_request_id], False, TIMEOUT_REASON, "timeout", now_ms)

    def function_result(self, call_id: str, output: str, *, is_error: bool = False, now_ms: float = 0.0) -> list[Output]:
        """A function tool returned (``is_error``: it raised; ``output`` is then the error
        as JSON): send the ``function_call_output`` (then the follow-up ``response.create``)."""
        self._check_call(call_id)
        if not isinstance(output, str):
            raise LocalProtocolError(f"function output must be a string, got {type(output).__name__}")
        return self._function_output(self._calls[call_id], output, is_error, now_ms)

    def _check_approval(self, approval_request_id: str) -> None:
        if approval_request_id not in self._approvals:
            why = "was already answered" if approval_request_id in self._answered else "is not pending"
            raise LocalProtocolError(f"approval request {approval_request_id!r} {why}")

    def _check_call(self, call_id: str) -> None:
        if call_id not in self._calls:
            why = "already has its output" if call_id in self._returned else "is not a pending function call"
            raise LocalProtocolError(f"call_id {call_id!r} {why}")

    def _answer(self, request: Question, approve: bool, reason: str | None, by: str,
                now_ms: float) -> list[Output]:
        if isinstance(request, FunctionApproval):
            return self._answer_call(request, approve, reason, by, now_ms)
        self._approval_count += 1
        response = McpApprovalResponse(id=f"{CLIENT_ITEM_PREFIX}approval_{self._approval_count}",
                                       approval_request_id=request.id, approve=approve,
                                       reason=UNSET if reason is None else reason)
        sent = self._conversation.emit(ConversationItemCreate(item=response), now_ms)
        answered = ApprovalAnswered(request.id, request.name, approve, reason, by)  # type: ignore[arg-type]
        return [sent, answered] + self._conversation.flush(now_ms)

    def _run_function(self, call: ToolCall, now_ms: float) -> list[Output]:
        if call.name not in self.function_tools:
            error = json.dumps({"error": f"unknown function tool {call.name!r}"})
            return self._function_output(call, error, True, now_ms)
        if self.policy.decide(call.name, unnamed="allow") == "allow":
            return self._start_call(call)
        if not self._conversation.first("approval", call.call_id):  # type: ignore[arg-type]
            # An approval request already has this id: one answer must never decide two calls.
            error = json.dumps({"error": "not run: its call_id is also an approval request's id"})
            clash = ProtocolViolation(f"function call {call.call_id!r} has the id of an approval request")
            return [clash, *self._function_output(call, error, True, now_ms)]
        self._function_questions.add(call.call_id)  # type: ignore[arg-type]
        question = FunctionApproval(call.call_id, call.name, call.arguments)  # type: ignore[arg-type]
        self._approvals[question.id] = question
        self._asked_calls[question.id] = call
        return [AskApproval(question), ApprovalRequested(question)]

    def _start_call(self, call: ToolCall) -> list[Output]:
        self._calls[call.call_id] = call  # type: ignore[index]
        return [CallFunction(call.call_id, call.name, call.arguments)]  # type: ignore[arg-type]

    def _answer_call(self, question: FunctionApproval, approve: bool, reason: str | None, by: str,
                     now_ms: float) -> list[Output]:
        # A person's answer (or the timeout) about a function call: run it, or answer it as denied.
        del self._approvals[question.id]
        self._answered.add(question.id)
        call = self._asked_calls.pop(question.id)
        answered = ApprovalAnswered(question.id, question.name, approve, reason, by)  # type: ignore[arg-type]
        if approve:
            return [answered, *self._start_call(call)]
        denied = json.dumps({"error": f"not run: the call was denied ({reason or 'by the user'})"})
        return [answered, *self._function_output(call, denied, True, now_ms)]

    def release_calls(self, response_id: str | None, status: str | None, now_ms: float) -> list[Output]:
        # At a response's done: its completed calls run if it completed, else are reported not run.
        out: list[Output] = []
        for call in self._held.pop(response_id, []) if response_id else []:
            out += self._run_function(call, now_ms) if status == "completed" else [_not_run(call, f"response {status}")]
        return out

    def _function_output(self, call: ToolCall, output: str, is_error: bool, now_ms: float) -> list[Output]:
        notice = self._function_notice(call, output, is_error)
        sent = self._conversation.emit(ConversationItemCreate(item=FunctionCallOutput(call_id=call.call_id, output=output)), now_ms)
        return [sent, notice] + self._conversation.flush(now_ms)

    def _function_notice(self, call: ToolCall, output: str, is_error: bool) -> ToolResult:
        error = output if is_error else None
        return ToolResult("function", call.item_id, call.call_id, call.name, None if is_error else output, error)

    def _cancel(self, response_id: str | None, now_ms: float) -> list[Output]:
        if response_id is None or response_id != self._conversation.running_response():
            return []
        return [self._conversation.emit(ResponseCancel(response_id=response_id), now_ms)]

    def see_mcp_call(self, item: McpCall, done: bool, response_id: str | None, now_ms: float) -> list[Output]:
        out: list[Output] = []
        if self._conversation.first("mcp", item.id) and not self._may_run(item):
            self._violating.add(item.id)
            message = (f"MCP tool {item.name!r} of server {item.server_label!r} ran without a person's yes "
                       f"or --allow")
            out += [PolicyViolation(message, item.id, item.name), *self._cancel(response_id, now_ms)]
        if item.arguments or done:
            out += self._mcp_call_notice(item, item.arguments)
        finished = value_at(item, "output") is not None or value_at(item, "error") is not None
        if not (done and finished and self._conversation.first("mcp_done", item.id)):
            return out
        error = _mcp_error_text(item.error) if value_at(item, "error") is not None else None
        out.append(ToolResult("mcp", item.id, None, item.name, None if error else item.output, error))
        if item.id not in self._violating:
            self._conversation.owe_followup()
        return out + self._conversation.flush(now_ms)

    def _may_run(self, item: McpCall) -> bool:
        return self.policy.decide(item.name) == "allow" or value_at(item, "approval_request_id") in self._approved

    def _mcp_call_notice(self, item: McpCall, arguments: str) -> list[Output]:
        if not self._conversation.first("mcp_notice", item.id):
            return []
        return [ToolCall("mcp", item.id, None, item.server_label, item.name, arguments)]

    def see_approval_request(self, item: McpApprovalRequest, done: bool, response_id: str | None,
                              now_ms: float) -> list[Output]:
        if item.id in self._function_questions:
            return [ProtocolViolation(f"approval request {item.id!r} has the id of a function call's question; "
                                      "it is not asked")]
        if not self._conversation.first("approval", item.id):
            return []
        if self.policy.decide(item.name) == "allow":
            return self._answer(item, True, None, "policy", now_ms)
        self._approvals[item.id] = item
        return [AskApproval(item), ApprovalRequested(item)]

    def see_function_call(self, item: FunctionCall, done: bool, response_id: str | None,
                           now_ms: float) -> list[Output]:
        call_id = value_at(item, "call_id")
        if not done or call_id is None or not self._conversation.first("call", call_id):
            return []
        call = ToolCall("function", value_at(item, "id"), call_id, None, item.name, item.arguments)
        status = value_at(item, "status")
        if status not in (None, "completed"):
            return [call, _not_run(call, f"the call is {status}")]
        if response_id is None or not self._conversation.response_open(response_id):
            return [call, *self._run_function(call, now_ms)]
        self._held.setdefault(response_id, []).append(call)
        return [call]

    def see_tools(self, item: McpListTools, done: bool, response_id: str | None, now_ms: float) -> list[Output]:
        item_id = value_at(item, "id") or ""
        if not done or not self._conversation.first("tools", item_id):
            return []
        return [ToolsListed(item_id, item.server_label, tuple(tool.name for tool in item.tools))]

    def on_mcp_arguments_done(self, event: ResponseMcpCallArgumentsDone, now_ms: float) -> list[Output]:
        item = self._conversation.item(event.item_id)
        return self._mcp_call_notice(item, event.arguments) if isinstance(item, McpCall) else []

    def on_tools_failed(self, event: McpListToolsFailed, now_ms: float) -> list[Output]:
        if not self._conversation.first("tools", event.item_id):
            return []
        item = self._conversation.item(event.item_id)
        return [ToolsListed(event.item_id, getattr(item, "server_label", None), (), failed=True)]

    def on_sent_item(self, event: ConversationItemCreate, now_ms: float) -> None:
        item = event.item
        if isinstance(item, McpApprovalResponse):
            self._approvals.pop(item.approval_request_id, None)
            self._answered.add(item.approval_request_id)
            if item.approve:  # the app's own answer: a person's, as far as the core can tell
                self._approved.add(item.approval_request_id)
            self._conversation.owe_followup()
        elif isinstance(item, FunctionCallOutput):
            self._calls.pop(item.call_id, None)
            self._returned.add(item.call_id)
            self._conversation.owe_followup()

    def check_item_create(self, event: ConversationItemCreate) -> None:
        if isinstance(event.item, McpApprovalResponse):
            self._check_approval(event.item.approval_request_id)
            if isinstance(self._approvals[event.item.approval_request_id], FunctionApproval):
                raise LocalProtocolError(f"{event.item.approval_request_id!r} is a function call's question, "
                                         "not an MCP approval request: answer it with answer_approval()")
        elif isinstance(event.item, FunctionCallOutput):
            self._check_call(event.item.call_id)

    def item_sent_notices(self, item: Any) -> list[Output]:
        # Notices for an approval response or function output the app sent itself.
        if isinstance(item, McpApprovalResponse):
            name = self._approvals[item.approval_request_id].name
            reason = item.reason if isinstance(item.reason, str) else None
            return [ApprovalAnswered(item.approval_request_id, name, item.approve, reason, "person")]
        if isinstance(item, FunctionCallOutput):
            return [self._function_notice(self._calls[item.call_id], item.output, False)]
        return []


def _not_run(call: ToolCall, why: str) -> ToolResult:
    # A call that was cut off: shown, never run and never answered.
    return ToolResult("function", call.item_id, call.call_id, call.name, None, f"not run: {why}")
