"""Struct bases and the machinery shared by every event module.

Theory of operation. Every wire object is a ``msgspec.Struct``. A field the
protocol marks optional defaults to ``UNSET`` (never ``None``), so a field that
was absent stays absent on re-encoding and a field sent as ``null`` stays
``null``: decoding and encoding are lossless.

Top-level events are a native msgspec tagged union on ``type`` (fast path).
Nested unions whose members msgspec cannot tell apart on its own (three
``message`` classes told apart by ``role``, members whose ``type`` is optional,
structs mixed with string forms) are declared as :class:`OneOf` subclasses and
decoded through :func:`dec_hook`, which picks the member by its ``type`` (and
``role``) and converts the object into it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "UnsetType", "Model", "OneOf", "dec_hook", "enc_hook", "format_validation_error"]


class Model(msgspec.Struct, kw_only=True, repr_omit_defaults=True):
    """Base of every wire object: keyword-only, absent fields are ``UNSET``."""

    def to_dict(self) -> dict[str, Any]:
        """The object as JSON-ready builtins (absent fields left out)."""
        return msgspec.to_builtins(self, enc_hook=enc_hook)


class OneOf:
    """A union of structs told apart by the value of their ``type`` field.

    Members inherit from the union class (msgspec checks what the hook returns),
    so the union is declared first and its ``variants`` (key -> struct) are
    filled in after the members; the key is the ``type`` value,
    or a ``(type, role)`` pair when ``key_fields`` names both. ``default`` is the
    member for objects without ``type`` (the protocol lets some omit it);
    ``strings`` lists plain-string forms the union also accepts (``None`` means
    none, ``str`` means any string).
    """

    __slots__ = ()
    variants: ClassVar[dict[Any, type]] = {}
    key_fields: ClassVar[tuple[str, ...]] = ("type",)
    default: ClassVar[type | None] = None
    strings: ClassVar[frozenset[str] | type | None] = None

    @classmethod
    def decode(cls, obj: Any) -> Any:
        """Turn decoded JSON (``obj``) into the matching member struct."""
        if isinstance(obj, str):
            return cls._decode_string(obj)
        if not isinstance(obj, dict):
            raise TypeError(f"Expected object, got {_json_kind(obj)}")
        member = cls._member(obj)
        try:
            return msgspec.convert(obj, member, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            # Re-raised as ValueError so that msgspec appends the outer path.
            raise ValueError(str(exc)) from None

    @classmethod
    def _decode_string(cls, obj: str) -> str:
        if cls.strings is str or (cls.strings and obj in cls.strings):
            return cls._string_type()(obj)
        if cls.strings:
            raise ValueError(f"Invalid value {obj!r}, expected one of {sorted(cls.strings)} or an object")
        raise TypeError("Expected object, got str")

    @classmethod
    def _string_type(cls) -> type:
        # msgspec checks that the hook returns an instance of the union, so a
        # string form comes back as a str subclass that is also a member.
        if "_str" not in cls.__dict__:
            cls._str = type(f"{cls.__name__}String", (str, cls), {"__slots__": ()})
        return cls._str

    @classmethod
    def _member(cls, obj: dict) -> type:
        if obj.get("type") is None:
            if cls.default is not None:
                return cls.default
            if "type" not in obj:
                raise ValueError("Object missing required field `type`")
        for field in cls.key_fields:
            value = obj.get(field)
            if not (isinstance(value, str) or value is None):
                # The " - at `...`" suffix lets format_validation_error extend the outer path.
                raise TypeError(f"Expected str, got {_json_kind(value)} - at `$.{field}`")
        key = tuple(obj.get(f) for f in cls.key_fields) if len(cls.key_fields) > 1 else obj["type"]
        member = cls.variants.get(key)
        if member is None and len(cls.key_fields) > 1:
            # A type without roles ignores a stray `role`, like any unknown field.
            member = cls.variants.get((key[0],) + (None,) * (len(key) - 1))
        if member is None:
            raise ValueError(f"Invalid {cls.__name__} {cls._describe_key(key)}")
        return member

    @classmethod
    def _describe_key(cls, key: Any) -> str:
        if len(cls.key_fields) == 1:
            return f"type {key!r}"
        # Name the role only when the type is one that has roles ("message").
        if not any(k[0] == key[0] and k[1:] != key[1:] for k in cls.variants):
            return f"type {key[0]!r}"
        return ", ".join(f"{f} {v!r}" for f, v in zip(cls.key_fields, key))


def _json_kind(obj: Any) -> str:
    kinds = {dict: "object", list: "array", str: "str", int: "int", float: "float", bool: "bool", type(None): "null"}
    return kinds.get(type(obj), type(obj).__name__)


def enc_hook(obj: Any) -> Any:
    """msgspec encode hook: the string forms of :class:`OneOf` unions encode as str."""
    if isinstance(obj, str):
        return str(obj)
    raise NotImplementedError(f"rtproto cannot encode {type(obj).__name__}")


def dec_hook(tp: type, obj: Any) -> Any:
    """msgspec decode hook: decodes :class:`OneOf` unions."""
    if isinstance(tp, type) and issubclass(tp, OneOf):
        return tp.decode(obj)
    raise NotImplementedError(f"rtproto cannot decode {tp!r}")


_AT = re.compile(r" - at `(\$[^`]*)`")


def format_validation_error(message: str) -> tuple[str, str | None]:
    """Split a msgspec message into (plain message, full JSON path).

    Errors raised inside a :class:`OneOf` carry their inner path first and the
    outer path after it (``... - at `$.x` - at `$.item` ``); they are joined
    into one path (``$.item.x``) and the backticks dropped.
    """
    paths = _AT.findall(message)
    text = _AT.sub("", message).replace("`", "")
    if not paths:
        return text, None
    path = paths[-1] + "".join(p[1:] for p in reversed(paths[:-1]))
    return text, path
