"""The official SDK's view of the GA protocol, for conformance tests only.

Builds the schemas the way the protocol reference's ``dump_schemas.py`` does
(pydantic ``TypeAdapter(union).json_schema()`` plus a ``type -> $ref``
discriminator map) from the installed ``openai`` package alone, and adds what
the tests need on top: the SDK's unions as member lists, a *strict* per-event
schema, and a hypothesis strategy for it.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import types
from typing import Any, Literal, Union, get_args, get_origin

import pydantic
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import TypeAdapter
from typing_extensions import Annotated

# name -> "module:attribute" of the SDK unions the conformance test enumerates.
SDK_UNIONS: dict[str, str] = {
    "server_events": "openai.types.realtime.realtime_server_event:RealtimeServerEvent",
    "client_events": "openai.types.realtime.realtime_client_event:RealtimeClientEvent",
    "items": "openai.types.realtime.conversation_item:ConversationItem",
    "session_tools": "openai.types.realtime.realtime_tools_config_union:RealtimeToolsConfigUnion",
    "response_tools": "openai.types.realtime.realtime_response_create_params:Tool",
    "tool_choice": "openai.types.realtime.realtime_tool_choice_config:RealtimeToolChoiceConfig",
    "audio_formats": "openai.types.realtime.realtime_audio_formats:RealtimeAudioFormats",
    "turn_detection": "openai.types.realtime.realtime_audio_input_turn_detection:RealtimeAudioInputTurnDetection",
    "mcp_errors": "openai.types.realtime.realtime_mcp_tool_call:Error",
    "session_types": "openai.types.realtime.session_update_event:Session",
    "transcription_usage": (
        "openai.types.realtime.conversation_item_input_audio_transcription_completed_event:Usage"
    ),
}

# Bounds for generated numbers: beyond 2**53 a JSON number is not exact in a double.
MAX_SAFE = 2**53


def load(spec: str) -> Any:
    """Import ``"module:attribute"``."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


# ---------------------------------------------------------------------------
# Type introspection


def strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def is_model(tp: Any) -> bool:
    return inspect.isclass(tp) and issubclass(tp, pydantic.BaseModel)


def flatten(tp: Any) -> list[Any]:
    """The members of a (possibly Annotated / nested / Optional) union, in order, without repeats."""
    tp = strip_annotated(tp)
    if not is_union(tp):
        return [tp]
    out: list[Any] = []
    for arg in get_args(tp):
        for member in flatten(arg):
            if member not in out:
                out.append(member)
    return out


def literal_values(tp: Any) -> list[Any]:
    """The values of the ``Literal`` members of ``tp``."""
    return [v for m in flatten(tp) if get_origin(m) is Literal for v in get_args(m)]


def wire_fields(model: type[pydantic.BaseModel]) -> dict[str, bool]:
    """Wire name -> required, for one SDK model."""
    return {(f.alias or name): f.is_required() for name, f in model.model_fields.items()}


def discriminator_key(model: type[pydantic.BaseModel]) -> tuple[Any, ...]:
    """(type, role) of a model: the literals that pick it out of its union (role is None if absent)."""
    def one(name: str) -> Any:
        field = model.model_fields.get(name)
        values = literal_values(field.annotation) if field is not None else []
        return values[0] if len(values) == 1 else None

    return one("type"), one("role")


def union_models(spec: str) -> list[type[pydantic.BaseModel]]:
    """The pydantic model members of the SDK union named by ``spec``."""
    return [m for m in flatten(load(spec)) if is_model(m)]


def union_string_forms(spec: str) -> set[str]:
    """The plain-string members of an SDK union (tool_choice's ``"auto"``...)."""
    return set(literal_values(load(spec)))


# ---------------------------------------------------------------------------
# JSON schemas (as dump_schemas.py builds them)


@functools.cache
def event_schema(side: str) -> dict[str, Any]:
    """JSON schema of the SDK's GA ``side`` ("server" or "client") event union.

    Adds ``x-rtproto-discriminator`` = ``{"propertyName": "type", "mapping": {type: $ref}}``,
    built by zipping the union members with the generated top-level ``anyOf``.
    """
    union = load(SDK_UNIONS[f"{side}_events"])
    schema = TypeAdapter(union).json_schema(mode="validation")
    members = flatten(union)
    any_of = schema["anyOf"]
    assert len(any_of) == len(members), "the SDK union and its schema disagree"
    mapping = {}
    for member, sub in zip(members, any_of):
        for value in literal_values(member.model_fields["type"].annotation):
            mapping[value] = sub["$ref"]
    schema["x-rtproto-discriminator"] = {"propertyName": "type", "mapping": mapping}
    return schema


@functools.cache
def event_models(side: str) -> dict[str, type[pydantic.BaseModel]]:
    """Event type string -> SDK model class."""
    models = union_models(SDK_UNIONS[f"{side}_events"])
    return {discriminator_key(m)[0]: m for m in models}


# A JSON value that survives every JSON library unchanged: finite, exact numbers,
# two levels deep. The marker lets strategy() draw it natively (see there).
JSON_VALUE_MARK = "rtproto: any JSON value"
_SCALAR: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "integer", "minimum": -MAX_SAFE, "maximum": MAX_SAFE},
        {"type": "number", "minimum": -MAX_SAFE, "maximum": MAX_SAFE},
        {"type": "string"},
    ]
}
_SHALLOW = {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}, {"type": "object", "additionalProperties": _SCALAR}]}
JSON_VALUE: dict[str, Any] = {
    "$comment": JSON_VALUE_MARK,
    "anyOf": [_SCALAR, {"type": "array", "items": _SHALLOW}, {"type": "object", "additionalProperties": _SHALLOW}],
}

_ANNOTATION_KEYS = {"title", "description", "default", "examples", "deprecated"}


def _is_free_form(node: dict[str, Any]) -> bool:
    # `Any` in pydantic becomes {} (or only annotations): anything goes.
    return not (set(node) - _ANNOTATION_KEYS)


def strict(node: Any) -> Any:
    """A copy of ``node`` that hypothesis-jsonschema generates only exact, SDK-representable JSON from.

    Objects that declare properties get ``additionalProperties: false``;
    integers and numbers are bounded to +-2**53; free-form values (``Any``)
    become :data:`JSON_VALUE`.
    """
    if isinstance(node, list):
        return [strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    if _is_free_form(node):
        return copy.deepcopy(JSON_VALUE)
    out = {k: _strict_keyword(k, v) for k, v in node.items() if k not in _ANNOTATION_KEYS}
    if "properties" in out:
        out["additionalProperties"] = False
    if out.get("type") in ("integer", "number") and "const" not in out:
        out.setdefault("minimum", -MAX_SAFE)
        out.setdefault("maximum", MAX_SAFE)
    return out


def _strict_keyword(key: str, value: Any) -> Any:
    if key in ("properties", "$defs"):  # name -> schema maps, not schemas
        return {name: strict(sub) for name, sub in value.items()}
    if key in ("const", "enum", "required"):
        return value
    return strict(value)


def strict_event_schema(side: str, event_type: str) -> dict[str, Any]:
    """A standalone strict schema for one event type, with the ``$defs`` it needs."""
    full = event_schema(side)
    ref = full["x-rtproto-discriminator"]["mapping"][event_type]
    return strict({"$ref": ref, "$defs": full["$defs"]})


# ---------------------------------------------------------------------------
# Generation

_COMPOSITE_KEYS = {"$ref", "anyOf", "properties", "required", "additionalProperties", "type", "items"}
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE, MAX_SAFE)
    | st.floats(-MAX_SAFE, MAX_SAFE, allow_nan=False, allow_infinity=False)
    | _TEXT
)
# Draws the same values as JSON_VALUE; from_schema would re-canonicalise its
# nested anyOf on every draw, which is most of the cost of generating a tool list.
_shallow = _SCALARS | st.lists(_SCALARS, max_size=3) | st.dictionaries(_TEXT, _SCALARS, max_size=3)
json_values = _SCALARS | st.lists(_shallow, max_size=3) | st.dictionaries(_TEXT, _shallow, max_size=3)


def strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for the values of a strict schema (see :func:`strict_event_schema`).

    The structure (``$ref``, ``anyOf``, objects, arrays and maps) is composed
    here, with one ``st.deferred`` per ``$defs`` entry, so recursive ``$ref``
    chains work; every scalar leaf (strings, numbers, ``const``, ``enum`` and
    their nullable ``anyOf`` forms) goes to hypothesis-jsonschema's
    ``from_schema``. Handing a whole event to ``from_schema`` is far too slow
    here: it re-canonicalises each nested object and ``anyOf`` on every draw
    (0.6 s per ``session.created`` example). Raises ``NotImplementedError``
    for a node it does not know how to generate.
    """
    defs = schema.get("$defs", {})
    by_name: dict[str, st.SearchStrategy[Any]] = {}

    def ref(target: str) -> st.SearchStrategy[Any]:
        name = target.removeprefix("#/$defs/")
        if name not in by_name:
            by_name[name] = st.deferred(lambda: build(defs[name]))
        return by_name[name]

    def build(node: dict[str, Any]) -> st.SearchStrategy[Any]:
        if node.get("$comment") == JSON_VALUE_MARK:
            return json_values
        if not _is_structure(node):
            return from_schema(node)
        if set(node) - _COMPOSITE_KEYS:
            raise NotImplementedError(f"cannot generate {sorted(set(node) - _COMPOSITE_KEYS)} in {node}")
        if "$ref" in node:
            return ref(node["$ref"])
        if "anyOf" in node:
            return st.one_of([build(sub) for sub in node["anyOf"]])
        if "properties" in node:
            required = set(node.get("required", ()))
            props = {k: build(v) for k, v in node["properties"].items()}
            return st.fixed_dictionaries(
                {k: v for k, v in props.items() if k in required},
                optional={k: v for k, v in props.items() if k not in required},
            )
        if node.get("type") == "array":
            return st.lists(build(node["items"]), max_size=4)
        return st.dictionaries(_TEXT, build(node["additionalProperties"]), max_size=4)

    root = {k: v for k, v in schema.items() if k != "$defs"}
    return build(root)


def _is_structure(node: dict[str, Any]) -> bool:
    if "$ref" in node or "properties" in node:
        return True
    if "anyOf" in node:
        return any(_is_structure(sub) for sub in node["anyOf"])
    if node.get("type") == "array":
        return _is_structure(node.get("items", {}))
    return node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict)


def sdk_validate(side: str, payload: dict[str, Any]) -> pydantic.BaseModel:
    """Validate ``payload`` with the SDK model for its type (raises pydantic.ValidationError)."""
    return event_models(side)[payload["type"]].model_validate(payload)


__all__ = [
    "JSON_VALUE",
    "JSON_VALUE_MARK",
    "json_values",
    "MAX_SAFE",
    "SDK_UNIONS",
    "discriminator_key",
    "event_models",
    "event_schema",
    "flatten",
    "is_model",
    "literal_values",
    "load",
    "sdk_validate",
    "strict",
    "strategy",
    "strict_event_schema",
    "strip_annotated",
    "union_models",
    "union_string_forms",
    "wire_fields",
]
