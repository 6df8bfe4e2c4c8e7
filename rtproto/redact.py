"""Secret redaction: the one place that decides what never reaches a transcript or a log.

Two kinds of rules, applied together:

known values
    :class:`Secrets` holds the secret values in use (the API key, MCP tokens,
    proxy and URL credentials), with their percent-encoded and JSON-escaped
    forms, and replaces each wherever it occurs. A value of at least 4
    characters is replaced as a substring; a shorter one only where it stands
    as a whole token (no letter or digit on either side), so that a 2-letter
    password does not eat every word holding those letters.
patterns
    :func:`redact` and :func:`redact_text` need no values: the value of any key
    named ``authorization`` (any case, any depth, and a few alike: ``api_key``,
    ``client_secret``, ``password``, ...) is replaced whole, every value of a
    ``headers`` object is replaced (the header names stay), and inside any
    string, OpenAI API keys (``sk-...``), Realtime ephemeral keys
    (``ek_...``), GitHub tokens (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``,
    ``ghr_``, ``github_pat_``), the token of ``Bearer <token>`` and URL query
    values named like credentials (``?key=``, ``&token=``, ``api_key``,
    ``access_token``, ``secret``, ``sig``, ...) are replaced in place. Ordinary
    ids (``event_...``, ``item_...``, ``resp_...``, ``sess_...``) are kept.

Every replacement is the string ``"[redacted]"`` (:data:`REDACTED`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

__all__ = ["REDACTED", "Secrets", "redact", "redact_raw_text", "redact_text"]

REDACTED = "[redacted]"

# ---------------------------------------------------------------------------
# Pattern rules

# Keys compared after lower-casing and mapping "-" to "_".
_SECRET_KEYS = frozenset(
    {"authorization", "proxy_authorization", "api_key", "apikey", "client_secret", "password",
     "access_token", "refresh_token"}
)
_HEADERS_KEY = "headers"
# URL query parameters whose values are credentials (compared like keys).
_QUERY_SECRET_NAMES = (
    "api_key", "apikey", "key", "token", "access_token", "refresh_token", "id_token", "auth", "authorization",
    "secret", "client_secret", "password", "passwd", "pwd", "sig", "signature", "session_token",
    "x_amz_signature", "x_amz_security_token", "x_goog_signature",
)

# Distinctive shapes match anywhere, even glued to other text; the short generic
# shapes only after a non-alphanumeric, so that "risk-assessment-matrix" stays.
_TOKEN_PATTERN = "|".join(
    (
        r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}",  # OpenAI project/service/admin keys
        r"sk-[A-Za-z0-9]{32,}[A-Za-z0-9_-]*",  # OpenAI legacy user keys
        r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}",  # other sk- keys
        r"ek_[A-Za-z0-9]{24,}",  # Realtime ephemeral client secrets
        r"(?<![A-Za-z0-9])ek_[A-Za-z0-9_-]{16,}",
        r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub classic tokens
        r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}",
        r"github_pat_[A-Za-z0-9_]{22,}",  # GitHub fine-grained tokens
    )
)
_BEARER_PATTERN = r"(?i:\b(bearer[ \t\r\n]+))[^\s\"',;]+"
_QUERY_NAMES = "|".join(sorted((re.escape(n).replace("_", "[_-]") for n in _QUERY_SECRET_NAMES), key=len, reverse=True))
_QUERY_PATTERN = rf"(?i:([?&;](?:{_QUERY_NAMES})=))[^&#\s\"']+"
_TOKEN_RE = re.compile(_TOKEN_PATTERN)
_BEARER_RE = re.compile(_BEARER_PATTERN)
_QUERY_RE = re.compile(_QUERY_PATTERN)
_ANY_RE = re.compile(f"{_BEARER_PATTERN}|{_QUERY_PATTERN}|{_TOKEN_PATTERN}")
# For non-JSON text only: `authorization: value`, `"api_key": "value"`, ...
_KEY_VALUE_RE = re.compile(
    r"(?i)((?:authorization|api[_-]?key|client[_-]?secret|password|access[_-]?token)"
    r"[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',}]+"
)


def _may_hold_token(text: str) -> bool:
    # A cheap superset test of the patterns above, so that most strings (ids,
    # event types, base64 audio) skip the regexes: single-character scans first.
    if ("-" in text or "_" in text) and ("sk-" in text or "ek_" in text or "gh" in text or "github_pat_" in text):
        return True
    if " " in text or "\t" in text or "\n" in text or "\r" in text:
        return True  # may hold "Bearer <token>"
    return "=" in text and ("?" in text or "&" in text or ";" in text)


def redact_text(text: str) -> str:
    """Return ``text`` with every secret-looking token replaced in place by ``[redacted]``."""
    if not _may_hold_token(text) or _ANY_RE.search(text) is None:
        return text
    text = _BEARER_RE.sub(r"\1" + REDACTED, text)
    text = _QUERY_RE.sub(r"\1" + REDACTED, text)
    return _TOKEN_RE.sub(REDACTED, text)


def redact_raw_text(text: str) -> str:
    """:func:`redact_text` for text that is not JSON: also ``authorization: value`` and the like."""
    return redact_text(_KEY_VALUE_RE.sub(r"\1" + REDACTED, text))


_PLAIN, _SECRET, _HEADERS = 0, 1, 2
_key_kinds: dict[str, int] = {}


def _key_kind(key: str) -> int:
    # Memoised: frames reuse a small set of keys, and this runs for every key.
    kind = _key_kinds.get(key)
    if kind is None:
        folded = key.lower().replace("-", "_")
        kind = _SECRET if folded in _SECRET_KEYS else _HEADERS if folded == _HEADERS_KEY else _PLAIN
        if len(_key_kinds) < 4096:
            _key_kinds[key] = kind
    return kind


def _redact_headers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: REDACTED for name in value}
    return value if value is None else REDACTED


def redact(obj: Any) -> Any:
    """Return a copy of a JSON-like value with its secrets replaced by ``"[redacted]"``.

    Values under secret keys such as ``authorization`` are replaced whole; a
    ``headers`` object keeps its names and loses its values; strings have
    secret-looking tokens replaced in place. ``obj`` itself is never modified.
    """
    return _walk(obj, redact_text, _same)


def _same(key: Any) -> Any:
    return key


def _walk(obj: Any, text: Callable[[str], str], key: Callable[[Any], Any]) -> Any:
    # `text` rewrites string values, `key` the keys of objects.
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, Mapping):
        return {key(name): _member(name, value, text, key) for name, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_walk(value, text, key) for value in obj]
    return obj


def _member(name: Any, value: Any, text: Callable[[str], str], key: Callable[[Any], Any]) -> Any:
    kind = _key_kind(name) if isinstance(name, str) else _PLAIN
    if kind == _SECRET:
        return value if value is None else REDACTED
    if kind == _HEADERS:
        return _redact_headers(value)
    return _walk(value, text, key)


def needs_redaction(obj: Any) -> bool:
    """The read-only twin of :func:`redact`: True when ``redact(obj)`` would change something."""
    if isinstance(obj, str):
        return _may_hold_token(obj) and _ANY_RE.search(obj) is not None
    if isinstance(obj, dict):
        for key, value in obj.items():
            kind = _key_kind(key) if isinstance(key, str) else _PLAIN
            if kind == _SECRET and value is not None:
                return True
            if kind == _HEADERS and _redact_headers(value) != value:
                return True
            if needs_redaction(value):
                return True
        return False
    if isinstance(obj, list):
        return any(needs_redaction(value) for value in obj)
    return False


# ---------------------------------------------------------------------------
# Known values

_SHORT = 4  # values shorter than this are replaced only as whole tokens
_WORD = "A-Za-z0-9"


def _forms(value: str) -> set[str]:
    # The value as it may appear in a frame: itself, percent-encoded, JSON-escaped.
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    return forms


def _pattern(forms: Iterable[str]) -> str:
    # One alternation, longest first, so that a value wins over its own prefix.
    parts = []
    for form in sorted(forms, key=len, reverse=True):
        escaped = re.escape(form)
        parts.append(escaped if len(form) >= _SHORT else f"(?<![{_WORD}]){escaped}(?![{_WORD}])")
    return "|".join(parts)


class Secrets:
    """The secret values in use (API key, MCP tokens, proxy/URL credentials); redacts them and the known patterns."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._long: set[str] = set()  # forms replaced wherever they occur
        self._short: set[str] = set()  # forms replaced as whole tokens only
        self._text_re: re.Pattern[str] | None = None
        self._short_bytes_re: re.Pattern[bytes] | None = None
        self._long_bytes: tuple[bytes, ...] = ()
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Know ``value`` (and its percent-encoded and JSON-escaped forms); ``None`` and ``""`` are ignored."""
        if not value:
            return
        for form in _forms(value):
            (self._long if len(form) >= _SHORT else self._short).add(form)
        self._compile()

    def update(self, other: Secrets) -> None:
        """Know every value ``other`` knows (one redactor for both, one pass per text)."""
        self._long |= other._long
        self._short |= other._short
        self._compile()

    def add_url(self, url: str | None) -> None:
        """Know the credentials in ``url``: its userinfo password (or the user name when it
        stands alone, as in ``https://TOKEN@host``) and credential-like query values."""
        if not url:
            return
        try:
            parts = urlsplit(url)
            username, password = parts.username, parts.password
        except ValueError:
            return  # not a URL: nothing can be told apart
        # A user name next to a password is an identity, not a secret: knowing
        # "user" would redact every "role": "user" of the conversation.
        for value in (password,) if password is not None else (username,):
            if value:
                self.add(value)
                self.add(unquote(value))
        for _, value in _query_credentials(parts.query):
            self.add(value)
            self.add(unquote(value))

    def text(self, text: str) -> str:
        """``text`` with every known value replaced by ``"[redacted]"``, then the pattern rules."""
        return redact_text(self._replace_known(text))

    def raw_text(self, text: str) -> str:
        """:meth:`text` for text that is not JSON (also ``authorization: value`` and the like)."""
        return redact_raw_text(self._replace_known(text))

    def value(self, obj: Any) -> Any:
        """A copy of a JSON-like value: known values removed from every string, and :func:`redact`'s rules."""
        if not self:
            return redact(obj)
        return _walk(obj, self.text, self._key)

    def url(self, url: str) -> str:
        """``url`` safe to show: userinfo redacted, credential-like query values redacted."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return self.text(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if port is not None:
            netloc = f"{netloc}:{port}"
        if "@" in parts.netloc:
            netloc = f"{REDACTED}@{netloc}"
        query = _redact_query(parts.query)
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def needs(self, obj: Any) -> bool:
        """True when :meth:`value` would change ``obj`` (a parsed JSON value)."""
        if needs_redaction(obj):
            return True
        return bool(self) and _holds_string(obj, self._known_in)

    def mentioned_in(self, data: bytes) -> bool:
        """Whether raw JSON ``data`` may hold a known value: exact when ``data`` holds no
        backslash escape (otherwise check the parsed value with :meth:`needs`)."""
        if any(form in data for form in self._long_bytes):
            return True
        return self._short_bytes_re is not None and self._short_bytes_re.search(data) is not None

    def __bool__(self) -> bool:
        return bool(self._long or self._short)

    def __repr__(self) -> str:
        return f"<Secrets: {len(self._long) + len(self._short)} forms>"  # never the values

    # -- internals -------------------------------------------------------------

    def _compile(self) -> None:
        self._text_re = re.compile(_pattern(self._long | self._short))
        self._long_bytes = tuple(sorted((form.encode() for form in self._long), key=len))
        short = _pattern(self._short)
        self._short_bytes_re = re.compile(short.encode()) if short else None

    def _key(self, key: Any) -> Any:
        return self._replace_known(key) if isinstance(key, str) else key

    def _known_in(self, text: str) -> bool:
        if any(form in text for form in self._long):
            return True
        return bool(self._short) and self._text_re is not None and self._text_re.search(text) is not None

    def _replace_known(self, text: str) -> str:
        if self._text_re is None or not self._known_in(text):
            return text
        return self._text_re.sub(REDACTED, text)


def _holds_string(obj: Any, test: Any) -> bool:
    # Whether any string (key or value) inside a parsed JSON value passes `test`.
    if isinstance(obj, str):
        return test(obj)
    if isinstance(obj, dict):
        return any(test(key) or _holds_string(value, test) for key, value in obj.items())
    if isinstance(obj, list):
        return any(_holds_string(value, test) for value in obj)
    return False


def _query_name(name: str) -> str:
    return unquote(name).lower().replace("-", "_")


def _query_credentials(query: str) -> list[tuple[str, str]]:
    # (name, value) of each credential-like parameter, value as written.
    out = []
    for pair in re.split(r"[&;]", query):
        name, sep, value = pair.partition("=")
        if sep and value and _query_name(name) in _QUERY_SECRET_NAMES:
            out.append((name, value))
    return out


def _redact_query(query: str) -> str:
    def redacted(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        return f"{name}={REDACTED}" if value and _query_name(name) in _QUERY_SECRET_NAMES else match.group(0)

    return re.sub(r"([^&;=]*)=([^&;]*)", redacted, query)
