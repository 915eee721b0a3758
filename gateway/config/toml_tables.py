"""tomlkit tables made to hold given values, the engineer's comments and layout kept.

Tables in an array are matched by name, keys whose value did not change keep their
spelling and comments, removed keys go, new keys and tables are added laid out as by
hand (docs/configuration.md). The editor of the configuration file (gateway.config.document)
uses these on the whole file or on one device's table (gateway.config.device_blocks).
"""

from __future__ import annotations

import math
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Table

# New [[devices.tags]] tables are indented below their device, as in docs/configuration.md.
NESTED_INDENT = 2


def merge_array(array: AoT, wanted: list[dict[str, Any]]) -> None:
    """Make the array of tables hold `wanted`, reusing its table of the same name for each."""
    tables = list(array)
    by_name: dict[object, Table] = {}
    for table in tables:
        by_name.setdefault(unwrapped(table.get("name")), table)
    indent = indent_of(tables[0]) if tables else 0
    merged = []
    for values in wanted:
        table = by_name.pop(values.get("name"), None)
        if table is None:
            table = new_table(values, indent)
        else:
            merge_table(table, values)
        merged.append(table)
    if [id(table) for table in tables] != [id(table) for table in merged]:
        # Emptied and filled again in place: a new array would put blank lines of its own
        # between the tables, which keep theirs.
        del array[:]
        for table in merged:
            array.append(table)


def merge_table(table: Table | Container, values: dict[str, Any]) -> None:
    """Make `table` hold exactly `values`, touching only the keys that differ."""
    for key in [key for key in table if key not in values]:
        del table[key]
    for key, value in values.items():
        old = table.get(key)
        if old is not None and same(unwrapped(old), value):
            continue
        if isinstance(old, AoT) and all_tables(value):
            merge_array(old, value)
        else:
            indent = indent_of(table) if isinstance(table, Table) else 0
            table[key] = toml_item(value, indent + NESTED_INDENT)


def new_table(values: dict[str, Any], indent: int) -> Table:
    """A table for `values` laid out as by hand: a blank line after its keys, and its
    arrays of tables ([[devices.tags]]) below, indented further."""
    table = tomlkit.table()
    arrays = {key: value for key, value in values.items() if all_tables(value)}
    for key, value in values.items():
        if key not in arrays:
            table[key] = tomlkit.item(value)
    table.add(tomlkit.nl())
    table.indent(indent)  # before the arrays: it indents what the table holds so far
    for key, value in arrays.items():
        table[key] = _new_array(value, indent + NESTED_INDENT)
    return table


def _new_array(wanted: list[dict[str, Any]], indent: int) -> AoT:
    array = tomlkit.aot()
    for values in wanted:
        array.append(new_table(values, indent))
    for table in array:
        # A new array starts each table after the first on a new line; the tables end
        # with a blank line already.
        table.trivia.indent = table.trivia.indent.lstrip("\n")
    return array


def indent_of(table: Table) -> int:
    """The indent of `table`'s header line."""
    return len(table.trivia.indent.rsplit("\n", 1)[-1])


def unwrapped(item: object) -> object:
    """The plain value of a tomlkit item (anything else as it is)."""
    unwrap = getattr(item, "unwrap", None)
    return unwrap() if unwrap is not None else item


def same(old: object, new: object) -> bool:
    """Equal and of the same types throughout: `1` is not `1.0`, nor `true`; `nan` is
    `nan`, as TOML writes it."""
    if type(old) is not type(new):
        return False
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same(old[key], new[key]) for key in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(same, old, new))
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old):
        return math.isnan(new)
    return old == new


def all_tables(value: object) -> bool:
    """Whether `value` is what TOML writes as an array of tables."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def toml_item(value: Any, indent: int) -> Any:
    """`value` as a TOML item; an array of tables laid out as by hand (`new_table`)."""
    return _new_array(value, indent) if all_tables(value) else tomlkit.item(value)


def no_nulls(value: Any) -> Any:
    """`value` without None entries in its tables: TOML has no null; a key set to None is
    unset. A None in an array is left for tomlkit to refuse."""
    if isinstance(value, dict):
        return {key: no_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [no_nulls(item) for item in value]
    return value
