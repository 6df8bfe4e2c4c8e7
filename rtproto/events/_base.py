"""Struct bases and the machinery shared by every event module.

Theory of operation. Every wire object is a ``msgspec.Struct``. A field the
protocol marks optional defaults to ``UNSET`` (never ``None``), so a field that
was absent stays absent on re-encoding and a field sent as ``null`` stays
``null``: decoding and encoding are lossless.

Structs forbid unknown fields, so msgspec's fast decode accepts exactly the
frames the model describes. Anything else (an unknown field, an unknown kind of
item or tool, a missing required field) fails fast and is read again by
:mod:`._lenient`, which keeps unknown fields in the struct's ``__dict__`` and
unknown kinds as :class:`UnknownObject` placeholders.

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

__all__ = [
    "UNSET", "UnsetType", "Model", "OneOf", "UnknownObject", "dec_hook", "enc_hook", "extra_fields",
    "format_validation_error", "value_at",
]

EXTRA = "_extra"  # the __dict__ key of the unknown fields a struct was decoded with


class Model(msgspec.Struct, kw_only=True, repr_omit_defaults=True, forbid_unknown_fields=True, dict=True):
    """Base of every wire object: keyword-only, absent fields are ``UNSET``.

    Unknown fields of a decoded object are kept (see :func:`extra_fields`) and
    written back by ``encode``; they take no part in ``==``.
    """

    def to_dict(self) -> dict[str, Any]:
        """The object as JSON-ready builtins (absent fields left out, unknown fields kept)."""
        from ._lenient import to_builtins

        return to_builtins(self)


def extra_fields(obj: Any) -> dict[str, Any]:
    """The fields of a decoded object that the model does not know, as they arrived (often ``{}``)."""
    return getattr(obj, "__dict__", {}).get(EXTRA, {})


class UnknownObject:
    """A nested object of a kind the model does not know (a future item, tool, format...).

    ``raw`` is its JSON value, unchanged; it encodes back to exactly that. Each
    :class:`OneOf` union has its own subclass (``ConversationItem.unknown`` is
    :class:`UnknownConversationItem`), an instance of the union, so code that
    dispatches on the struct class simply finds no handler for it.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def type(self) -> Any:
        """The ``type`` the object carries, if any (``"reasoning"``)."""
        return self.raw.get("type") if isinstance(self.raw, dict) else None

    def to_dict(self) -> Any:
        """The JSON value, exactly as it arrived."""
        return self.raw

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.raw == self.raw  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.raw!r})"


class OneOf:
    """A union of structs told apart by the value of their ``type`` field.

    Members inherit from the union class (msgspec checks what the hook returns),
    so the union is declared first and its ``variants`` (key -> struct) are
    filled in after the members; the key is the ``type`` value,
    or a ``(type, role)`` pair when ``key_fields`` names both. ``default`` is the
    member for objects without ``type`` (the protocol lets some omit it);
    ``strings`` lists plain-string forms the union also accepts (``None`` means
    none, ``str`` means any string). ``label`` names the union in reports
    ("unknown item type 'reasoning'"); ``unknown`` is its placeholder class.
    """

    __slots__ = ()
    variants: ClassVar[dict[Any, type]] = {}
    key_fields: ClassVar[tuple[str, ...]] = ("type",)
    default: ClassVar[type | None] = None
    strings: ClassVar[frozenset[str] | type | None] = None
    label: ClassVar[str] = "object"
    unknown: ClassVar[type[UnknownObject]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not issubclass(cls, (msgspec.Struct, str, UnknownObject)):  # a union, not one of its members
            doc = f"A ``{cls.__name__}`` of a kind the model does not know; ``raw`` is its JSON."
            attrs = {"__slots__": (), "__module__": cls.__module__, "__doc__": doc}
            cls.unknown = type(f"Unknown{cls.__name__}", (UnknownObject, cls), attrs)

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
        member = cls.lookup(obj)
        if member is None:
            raise ValueError(cls.invalid(obj))
        return member

    @classmethod
    def lookup(cls, obj: dict) -> type | None:
        """The member struct for ``obj``, or None for a kind this union does not know.

        Raises TypeError when a key field (``type``, ``role``) is not a string.
        """
        if obj.get("type") is None and cls.default is not None:
            return cls.default
        for field in cls.key_fields:
            value = obj.get(field)
            if not (isinstance(value, str) or value is None):
                # The " - at `...`" suffix lets format_validation_error extend the outer path.
                raise TypeError(f"Expected str, got {_json_kind(value)} - at `$.{field}`")
        key = cls._key(obj)
        member = cls.variants.get(key)
        if member is None and len(cls.key_fields) > 1:
            # A type without roles ignores a stray `role`, like any unknown field.
            member = cls.variants.get((key[0],) + (None,) * (len(key) - 1))
        return member

    @classmethod
    def _key(cls, obj: dict) -> Any:
        return tuple(obj.get(f) for f in cls.key_fields) if len(cls.key_fields) > 1 else obj.get("type")

    @classmethod
    def invalid(cls, obj: dict) -> str:
        """The strict error for an object :meth:`lookup` found no member for."""
        if obj.get("type") is None:
            return "Object missing required field `type`"
        return f"Invalid {cls.__name__} {cls._describe_key(cls._key(obj))}"

    @classmethod
    def describe_unknown(cls, value: Any) -> str:
        """What a lenient read tolerated by keeping ``value`` as a placeholder."""
        if isinstance(value, str):
            return f"unknown {cls.label} value {value!r}"
        if value.get("type") is None:
            return f"{cls.label} without a type"
        return f"unknown {cls.label} {cls._describe_key(cls._key(value))}"

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
    """msgspec encode hook: placeholders encode as their JSON, string forms of unions as str."""
    if isinstance(obj, UnknownObject):
        return obj.raw
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


def value_at(obj: Any, *path: str) -> Any:
    """The value at the attribute ``path`` of a decoded struct (``value_at(event, "error", "code")``);
    None when any step is absent (``UNSET``) or null."""
    for name in path:
        obj = getattr(obj, name, None)
        if obj is UNSET or obj is None:
            return None
    return obj
