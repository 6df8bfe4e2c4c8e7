"""Reading frames the fast decode refused: liberally (server) or strictly (client).

Theory of operation. The structs forbid unknown fields, so msgspec's one-pass
decode accepts only frames the model describes exactly. A frame it refuses is
parsed as plain JSON and walked here against the same structs, with one rule
set and two modes:

* unknown fields are kept in the struct's ``__dict__`` (both modes), so
  ``encode`` writes them back;
* in lenient mode (server events), a kind of item, tool, format... that a
  :class:`~._base.OneOf` union does not know becomes its placeholder
  (``ConversationItem.unknown``), a missing required field stays ``UNSET`` and a
  ``null`` where the SDK allows none stays ``None``; in strict mode each of these
  raises :class:`Hopeless`, as msgspec would;
* a value of the wrong JSON kind (a number for a string, an array for an
  object) is hopeless in both modes.

:func:`leniencies` walks a frame again in lenient mode and reports what was
tolerated, so decoding itself records nothing.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

import msgspec

from ._base import EXTRA, UNSET, OneOf, UnknownObject, UnsetType, dec_hook

__all__ = ["Hopeless", "leniencies", "read_event", "to_builtins"]

_NONE = type(None)


class Hopeless(Exception):
    """A value the model cannot hold: ``message`` in msgspec's words, ``path`` where it is."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.message, self.path = message, path


class _Reader:
    # One walk: strict or lenient, and what was tolerated (when asked).
    __slots__ = ("strict", "found", "extras")

    def __init__(self, strict: bool, found: list[tuple[str, str]] | None = None):
        self.strict, self.found, self.extras = strict, found, False

    def tolerate(self, path: str, what: str, error: Hopeless) -> None:
        if self.strict:
            raise error
        if self.found is not None:
            self.found.append((path, what))

    def unknown_field(self, path: str, key: str) -> None:
        self.extras = True
        if self.found is not None:
            self.found.append((f"{path}.{key}", f"unknown field {key!r}"))


def read_event(raw: dict[str, Any], cls: type, strict: bool, found: list[tuple[str, str]] | None = None) -> Any:
    """``raw`` (a frame's JSON object) as an instance of event struct ``cls``; raises :class:`Hopeless`."""
    reader = _Reader(strict, found)
    event = _struct(raw, cls, "$", reader)
    if reader.extras:
        event.__dict__.setdefault(EXTRA, {})  # tells encode to look for unknown fields below
    return event


def leniencies(frame: bytes | str | dict[str, Any], event: Any) -> list[tuple[str, str]]:
    """What reading ``frame`` as ``event`` (its decoded struct) tolerated, as (JSON path, what) pairs.

    For example ``("$.response.output[0]", "unknown item type 'reasoning'")``,
    ``("$.usage", "missing required field 'usage'")`` or
    ``("$.obfuscation", "unknown field 'obfuscation'")``; ``[]`` when the frame
    is exactly what the model describes. An :class:`~._event.UnknownEvent`
    gives one entry for its ``type``. ``frame`` is the frame's bytes, text or
    parsed JSON object.
    """
    from ._event import UnknownEvent

    if isinstance(event, UnknownEvent):
        return [("$.type", f"unknown event type {event.type!r}")]
    raw = frame if isinstance(frame, dict) else msgspec.json.decode(frame)
    found: list[tuple[str, str]] = []
    read_event(raw, type(event), strict=False, found=found)
    return found


# ---------------------------------------------------------------------------
# The walk


def _convert(value: Any, tp: Any, path: str, reader: _Reader) -> Any:
    plan = _plan(tp)
    if value is None:
        if not plan.nullable:
            reader.tolerate(path, f"null for non-nullable field {_last(path)!r}", _hopeless(value, tp, path))
        return None
    kind = type(value)
    if kind is dict and plan.obj is not None:
        return _object(value, plan.obj, path, reader)
    if kind is dict and plan.values is not None:
        return {k: _convert(v, plan.values, f"{path}.{k}", reader) for k, v in value.items()}
    if kind is list and plan.items is not None:
        return [_convert(v, plan.items, f"{path}[{i}]", reader) for i, v in enumerate(value)]
    if plan.leaf is not None:
        try:
            return msgspec.convert(value, plan.leaf, dec_hook=dec_hook)
        except msgspec.ValidationError:
            pass
    if kind is str and plan.obj is not None and issubclass(plan.obj, OneOf):
        return _string_form(value, plan.obj, path, reader)
    raise _hopeless(value, tp, path)


def _object(value: dict[str, Any], cls: type, path: str, reader: _Reader) -> Any:
    if not issubclass(cls, msgspec.Struct):  # a OneOf union: find the member
        try:
            member = cls.lookup(value)
        except TypeError as exc:
            raise Hopeless(str(exc), path) from None
        if member is None:
            reader.tolerate(path, cls.describe_unknown(value), Hopeless(cls.invalid(value), path))
            return cls.unknown(value)
        cls = member
    return _struct(value, cls, path, reader)


def _struct(value: dict[str, Any], cls: type, path: str, reader: _Reader) -> Any:
    fields, tag_field = _fields(cls)
    kwargs: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key)
        if field is not None:
            kwargs[field.name] = _convert(item, field.type, f"{path}.{key}", reader)
        elif key != tag_field:
            extras[key] = item
            reader.unknown_field(path, key)
    for key, field in fields.items():
        if field.required and field.name not in kwargs:
            error = Hopeless(f"Object missing required field `{key}`", path)
            reader.tolerate(f"{path}.{key}", f"missing required field {key!r}", error)
            kwargs[field.name] = UNSET
    obj = cls(**kwargs)
    if extras:
        obj.__dict__[EXTRA] = extras
    return obj


def _string_form(value: str, union: type[OneOf], path: str, reader: _Reader) -> Any:
    try:
        return union._decode_string(value)
    except (TypeError, ValueError) as exc:
        reader.tolerate(path, union.describe_unknown(value), Hopeless(str(exc), path))
        return union.unknown(value)


def _hopeless(value: Any, tp: Any, path: str) -> Hopeless:
    # msgspec words the error for the whole declared type ("Expected `str | null`, got `int`").
    try:
        msgspec.convert(value, tp, dec_hook=dec_hook)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        return Hopeless(str(exc), path)
    return Hopeless(f"Unexpected value of type {type(value).__name__}", path)


def _last(path: str) -> str:
    return path.rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------
# What the walk needs to know about a struct or a field type, computed once


@functools.cache
def _fields(cls: type) -> tuple[dict[str, msgspec.structs.FieldInfo], str | None]:
    config = cls.__struct_config__
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}, config.tag_field if config.tag else None


@dataclass(frozen=True)
class _Plan:
    nullable: bool
    obj: type | None  # a struct or a OneOf union: read from a JSON object
    items: Any  # the element type of a list of objects
    values: Any  # the value type of a mapping of objects
    leaf: Any  # everything else, converted by msgspec in one call


@functools.cache
def _plan(tp: Any) -> _Plan:
    members = _members(tp)
    obj = items = values = None
    leaves = []
    for member in members:
        if member in (_NONE, UnsetType):
            continue
        origin, args = get_origin(member), get_args(member)
        if _is_object(member):
            obj = member
        elif origin is list and _walks(args[0]):
            items = args[0]
        elif origin is dict and _walks(args[1]):
            values = args[1]
        else:
            leaves.append(member)
    leaf = Union[tuple(leaves)] if leaves else None  # noqa: UP007 - a runtime union
    return _Plan(_NONE in members or Any in members, obj, items, values, leaf)


def _members(tp: Any) -> list[Any]:
    if get_origin(tp) in (Union, types.UnionType):
        return [m for arg in get_args(tp) for m in _members(arg)]
    return [tp]


def _is_object(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or issubclass(tp, OneOf))


def _walks(tp: Any) -> bool:
    return _is_object(tp) or any(_walks(arg) for arg in get_args(tp))


# ---------------------------------------------------------------------------
# Writing back, unknown fields included


def to_builtins(obj: Any) -> Any:
    """``obj`` as JSON-ready builtins, with the unknown fields its structs were decoded with."""
    if isinstance(obj, msgspec.Struct):
        out: dict[str, Any] = {}
        config = obj.__struct_config__
        if config.tag is not None:
            out[config.tag_field] = config.tag
        for key, field in _fields(type(obj))[0].items():
            value = getattr(obj, field.name)
            if value is not UNSET:
                out[key] = to_builtins(value)
        extras = getattr(obj, "__dict__", {}).get(EXTRA)
        if extras:
            out.update((k, v) for k, v in extras.items() if k not in out)
        return out
    if isinstance(obj, list):
        return [to_builtins(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_builtins(v) for k, v in obj.items()}
    if isinstance(obj, UnknownObject):
        return obj.raw
    if isinstance(obj, str):
        return str(obj)
    return obj
