"""What the server's error codes mean for the conversation: one table.

The server reports trouble two ways: an ``error`` event (``error.code``,
``error.type``) and a ``response.done`` whose ``status`` is ``failed`` with
``status_details.error``. Both are classified here, by code first and type
second (the server has sent either alone):

``transient``
    worth another try once the server says so (``rate_limit_exceeded``: the
    message says "Please try again in 1.5s"; ``server_error``): the session
    owes its request again, after :func:`retry_after_ms`, at most
    :data:`MAX_RETRIES` times in a row;
``benign``
    expected in a healthy conversation (a cancel that came too late, a commit of
    an empty buffer): a quiet notice;
``fatal``
    no later request can succeed (a bad key, no quota, an unknown model): the
    conversation ends at once with the server's message;
``other``
    anything else: shown, and the conversation goes on.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from rtproto.events import value_at

__all__ = ["ALREADY_ACTIVE", "MAX_RETRIES", "SESSION_EXPIRED", "Severity", "classify", "retry_after_ms", "status_error"]

Severity = Literal["transient", "benign", "fatal", "other"]

ALREADY_ACTIVE = "conversation_already_has_active_response"
SESSION_EXPIRED = "session_expired"
MAX_RETRIES = 3  # tries of one owed request after transient failures
DEFAULT_RETRY_MS = 1000.0
LONGEST_RETRY_MS = 30_000.0  # a server asking for a longer wait is answered after this

_SEVERITY: dict[str, Severity] = {
    "rate_limit_exceeded": "transient",
    "server_error": "transient",
    "server_is_overloaded": "transient",
    "response_cancel_not_active": "benign",
    "input_audio_buffer_commit_empty": "benign",
    "conversation_item_truncate_invalid": "benign",
    ALREADY_ACTIVE: "benign",  # the session owes its request until the running response is done
    "invalid_api_key": "fatal",
    "insufficient_quota": "fatal",
    "model_not_found": "fatal",
    "account_deactivated": "fatal",
    "billing_hard_limit_reached": "fatal",
    SESSION_EXPIRED: "benign",  # the close that follows is resumed on a new session
    "authentication_error": "fatal",
    "permission_denied": "fatal",
}

_RETRY_HINT = re.compile(r"(?i)try again in\s+(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?)\b")


def classify(code: str | None, kind: str | None = None) -> Severity:
    """The severity of an error by its ``code``, else its ``type``."""
    for key in (code, kind):
        if isinstance(key, str) and key in _SEVERITY:
            return _SEVERITY[key]
    return "other"


def retry_after_ms(message: str | None) -> float:
    """How long the server asks us to wait ("Please try again in 1.5s" -> 1500), bounded by
    :data:`LONGEST_RETRY_MS`; :data:`DEFAULT_RETRY_MS` when the message says nothing."""
    match = _RETRY_HINT.search(message or "")
    if match is None:
        return DEFAULT_RETRY_MS
    value = float(match.group(1)) * (1.0 if match.group(2).lower() == "ms" else 1000.0)
    return min(value, LONGEST_RETRY_MS)


def status_error(details: Any) -> tuple[str | None, str | None, str | None]:
    """A failed response's ``status_details.error``: (``"type code: message"``, code, type), or Nones."""
    error = value_at(details, "error")
    if error is None:
        return None, None, None
    code, kind, message = (value_at(error, name) for name in ("code", "type", "message"))
    label = " ".join(str(x) for x in dict.fromkeys((kind, code)) if x)
    return f"{label or 'error'}: {message or 'no message'}", code, kind
