"""A device's tags as CSV, the common way engineers move tag lists between tools (issue #11).

One row per tag under a header naming the columns (`COLUMNS`, described in docs/web.md);
columns may come in any order and may be left out. Cells are text, made into TOML values
as the device form's fields are (web/device_form.py), so whatever is wrong with a value is
said by the configuration validator, on the tag's line. What this module refuses itself
is what the validator would never see: an unknown or repeated column, a row with more
cells than the header, a `writable` that is neither true nor false, half a range.

Written files start with a byte-order mark and use commas and decimal points: Excel then
opens Cyrillic descriptions as they are. Read files may use commas, semicolons or tabs
(what Excel writes depends on the locale: in a Russian one, semicolons and decimal
commas, which are read as points in number columns).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from web.device_form import INTEGER_FIELDS, NUMBER_FIELDS, typed_fields

COLUMNS = (
    "name",
    "table",
    "address",
    "type",
    "order",
    "bit",
    "length",
    "scale",
    "offset",
    "unit",
    "range_low",
    "range_high",
    "deadband",
    "writable",
    "description",
)
_RANGE = ("range_low", "range_high")
_NUMBER_COLUMNS = NUMBER_FIELDS | INTEGER_FIELDS | frozenset(_RANGE)
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_DELIMITERS = ",;\t"
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")
BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """What is wrong on one line of the file (1 is the header)."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ParsedTags:
    """A file's tags as the device form sends them, each with the line it starts on; with
    any problem, no tags."""

    tags: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def tags_csv(tags: Sequence[Mapping[str, Any]]) -> str:
    """The CSV text of `tags` (the tag tables as the configuration file writes them)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for tag in tags:
        cells = {key: _cell(value) for key, value in tag.items()}
        low_high = tag.get("range")
        if isinstance(low_high, Sequence) and not isinstance(low_high, str) and len(low_high) == 2:
            cells["range_low"], cells["range_high"] = (_cell(bound) for bound in low_high)
        writer.writerow([cells.get(column, "") for column in COLUMNS])
    return BOM + out.getvalue()


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_tags_csv(text: str) -> ParsedTags:
    """The tags of a CSV file, or every problem the validator would not see, by line."""
    text = text.removeprefix(BOM)
    first = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        problems = _header_problems(header)
        if problems:
            return ParsedTags(problems=problems)
        tags: list[dict[str, Any]] = []
        lines: list[int] = []
        line = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                tag, row_problems = _tag(header, row, line, decimal_comma=delimiter != ",")
                tags.append(tag)
                lines.append(line)
                problems += row_problems
            line = reader.line_num + 1
    except csv.Error as exc:
        return ParsedTags(problems=[RowProblem(reader.line_num, f"not CSV: {exc}")])
    if problems:
        return ParsedTags(problems=problems)
    return ParsedTags(tags=tags, lines=lines)


def _header_problems(header: list[str]) -> list[RowProblem]:
    if not any(header):
        return [RowProblem(1, f"the first line must name the columns: {', '.join(COLUMNS)}")]
    problems = []
    for index, column in enumerate(header):
        if column not in COLUMNS:
            problems.append(
                RowProblem(1, f"unknown column {column!r}; the columns are {', '.join(COLUMNS)}")
            )
        elif column in header[:index]:
            problems.append(RowProblem(1, f"column {column!r} is named twice"))
    if "name" not in header:
        problems.append(RowProblem(1, "the column 'name' is missing"))
    return problems


def _tag(
    header: list[str], row: list[str], line: int, *, decimal_comma: bool
) -> tuple[dict[str, Any], list[RowProblem]]:
    if len(row) > len(header):
        message = f"{len(row)} cells, but the header names {len(header)} columns"
        return {}, [RowProblem(line, message)]
    cells = {column: cell.strip() for column, cell in zip(header, row, strict=False)}
    problems = []
    if decimal_comma:
        for column, cell in cells.items():
            if column in _NUMBER_COLUMNS and _DECIMAL_COMMA.fullmatch(cell):
                cells[column] = cell.replace(",", ".")
    low, high = (cells.pop(column, "") for column in _RANGE)
    if low and high:
        cells["range"] = f"{low}, {high}"
    elif low or high:
        problems.append(
            RowProblem(line, "range_low and range_high are given together or not at all")
        )
    writable = cells.pop("writable", "").lower()
    tag: dict[str, Any] = typed_fields(cells)
    if writable in _TRUE | _FALSE:
        tag["writable"] = writable in _TRUE
    elif writable:
        problems.append(RowProblem(line, f"writable: expected true or false (got {writable!r})"))
    return tag, problems
