"""Pydantic's validation errors rewritten as plain messages at their key paths.

Pydantic says "Input should be less than or equal to 65535"; an operator editing a TOML
file needs "must be between 0 and 65535 (got 70000)". The wording depends on the slot the
error sits in (its type and bounds), so each error's `loc` is resolved against the models.
"""

from __future__ import annotations

import difflib
import types
from datetime import date, time
from enum import Enum
from typing import Annotated, Any, Literal, TypeGuard, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from gateway.config.problem import Finding, Loc

# The models are strict (see model.py), so only the *_type errors occur, never *_parsing.
_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "path_type": "a string",
}
_TABLE_ERRORS = {"model_type", "model_attributes_type", "dict_type"}
_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_SHAPE_ERRORS = {"tuple_type", "too_short", "too_long"}
_BOUND_TYPES = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
_BOUND_WORDS = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}

_SHOWN_DEPTH = 2  # arrays inside arrays deeper than this are shown as [...] (issue #17)
_LONG_INTEGER = 10**20  # longer integers are shown by their length: no line of 400 digits

_Slot = tuple[Any, list[Any]]
"""The type expected at a key path, and its constraints (annotated_types Ge, Le, ...)."""


def explain(error: ValidationError, root: type[BaseModel]) -> list[Finding]:
    """One finding per distinct problem of `error`, raised while validating `root`."""
    findings: list[Finding] = []
    for details in error.errors():
        finding = _finding(details, root)
        if finding not in findings:  # an empty `range` is two "missing" items, one problem
            findings.append(finding)
    return findings


def show(value: object, depth: int = 0) -> str:
    """A value as the operator wrote it in TOML, for "(got ...)"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return "an array of tables"
        if depth == _SHOWN_DEPTH:  # arrays nested hundreds deep stay one short line
            return "[...]"
        return "[" + ", ".join(show(item, depth + 1) for item in value) + "]"
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int) and abs(value) >= _LONG_INTEGER:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


def _finding(details: ErrorDetails, root: type[BaseModel]) -> Finding:
    loc: Loc = tuple(details["loc"])
    kind = details["type"]
    value = details["input"]
    if kind == "extra_forbidden":
        return Finding(loc, _unknown_key(root, loc))
    field_loc = _field_loc(loc)
    slot = _resolve(root, field_loc)
    # An item missing from `range = [1]` arrives as range[1]: the array is what is wrong.
    wrong_shape = kind in _SHAPE_ERRORS or (kind == "missing" and loc != field_loc)
    # The Any of the _Slot alias picks get_origin's first overload (ParamSpec), python/mypy#15630.
    if slot is not None and get_origin(slot[0]) is tuple and wrong_shape:  # type: ignore[comparison-overlap]
        size = len(get_args(slot[0]))
        return Finding(field_loc, f"expected an array of {size} numbers (got {show(value)})")
    return Finding(loc, _message(kind, details, loc, _resolve(root, loc)))


def _message(kind: str, details: ErrorDetails, loc: Loc, slot: _Slot | None) -> str:
    value = details["input"]
    ctx = details.get("ctx", {})
    if kind == "missing":
        return "missing required key"
    if kind == "enum" and slot is not None and _is_enum(slot[0]):
        choices = ", ".join(str(member.value) for member in slot[0])
        return f"unknown {_key_name(loc)} {show(value)}; expected one of {choices}"
    # As above: python/mypy#15630.
    if kind == "literal_error" and slot is not None and get_origin(slot[0]) is Literal:  # type: ignore[comparison-overlap]
        choices = ", ".join(str(choice) for choice in get_args(slot[0]))
        return f"unknown {_key_name(loc)} {show(value)}; expected one of {choices}"
    if kind in _BOUND_ERRORS and slot is not None:
        return f"must be {_bounds(slot[1])} (got {show(value)})"
    if kind == "value_error":
        return f"{ctx['error']} (got {show(value)})"
    if kind == "finite_number":  # the models' allow_inf_nan=False (issue #17)
        return f"must be a finite number (got {show(value)})"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "list_type":
        return f"expected {_array_name(slot, loc)} (got {show(value)})"
    if kind in _TABLE_ERRORS:
        where = f", [{_dotted(loc)}]" if loc and isinstance(loc[-1], str) else ""
        return f"expected a table{where} (got {show(value)})"
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]} (got {show(value)})"
    return f"{details['msg']} (got {show(value)})"


def _unknown_key(root: type[BaseModel], loc: Loc) -> str:
    key = str(loc[-1])
    slot = _resolve(root, loc[:-1])
    owner = slot[0] if slot is not None else None
    if not _is_model(owner):
        return f"unknown key {key!r}"
    keys = list(owner.model_fields)
    close = difflib.get_close_matches(key, keys, n=1)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; expected one of {', '.join(keys)}"


def _array_name(slot: _Slot | None, loc: Loc) -> str:
    if slot is not None and _is_model(_unwrap(_item_type(slot[0], 0))[0]):
        return f"an array of tables, [[{_dotted(loc)}]]"
    return "an array"


def _resolve(root: type[BaseModel], loc: Loc) -> _Slot | None:
    """The slot at `loc` in the model tree under `root`; None where the schema has none."""
    annotation: Any = root
    metadata: list[Any] = []
    for part in loc:
        annotation, _ = _unwrap(annotation)
        if isinstance(part, str):
            if not _is_model(annotation) or part not in annotation.model_fields:
                return None
            field = annotation.model_fields[part]
            annotation, metadata = field.annotation, list(field.metadata)
        else:
            annotation, metadata = _item_type(annotation, part), []
            if annotation is None:
                return None
    core, inner = _unwrap(annotation)
    return core, metadata + inner


def _unwrap(annotation: Any) -> _Slot:
    """Strip `Annotated[...]` and `X | None`, collecting the constraints on the way."""
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extras = get_args(annotation)
            for extra in extras:
                metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
            annotation = base
        elif origin is Union or origin is types.UnionType:
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation, metadata
            annotation = members[0]
        else:
            return annotation, metadata


def _item_type(annotation: Any, index: int) -> Any:
    args = get_args(annotation)
    if get_origin(annotation) is tuple:
        return args[index] if index < len(args) else None
    return args[0] if get_origin(annotation) is list and args else None


def _bounds(metadata: list[Any]) -> str:
    limits = {
        name: getattr(item, name)
        for item in metadata
        if isinstance(item, _BOUND_TYPES)
        for name in _BOUND_WORDS
        if hasattr(item, name)
    }
    if "ge" in limits and "le" in limits:
        return f"between {_number(limits['ge'])} and {_number(limits['le'])}"
    return " and ".join(
        f"{words} {_number(limits[name])}" for name, words in _BOUND_WORDS.items() if name in limits
    )


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field_loc(loc: Loc) -> Loc:
    end = len(loc)
    while end and isinstance(loc[end - 1], int):
        end -= 1
    return loc[:end]


def _key_name(loc: Loc) -> str:
    return str(_field_loc(loc)[-1])


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc if isinstance(part, str))


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)
