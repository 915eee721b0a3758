"""A device's tags as CSV: written as the configuration holds them, read back into the
values the device form sends, and every row the validator would not see refused by line."""

from __future__ import annotations

from typing import Any

import pytest

from web.tag_csv import BOM, COLUMNS, RowProblem, parse_tags_csv, tags_csv

TAGS: list[dict[str, Any]] = [
    {
        "name": "flow",
        "table": "holding",
        "address": 0,
        "type": "float32",
        "order": "CDAB",
        "scale": 0.5,
        "unit": "m³/h",
        "range": [0.0, 120.5],
        "writable": True,
        "description": "Расход, насос 1",
    },
    {"name": "running", "table": "coil", "address": 3, "type": "bool"},
    {
        "name": "serial",
        "table": "input",
        "address": 40,
        "type": "string",
        "length": 12,
        "description": 'says "hi", twice',
    },
]


def test_tags_written_and_read_back_are_the_same() -> None:
    text = tags_csv(TAGS)
    assert text.startswith(BOM)
    assert text.splitlines()[0] == BOM + ",".join(COLUMNS)
    parsed = parse_tags_csv(text)
    assert parsed.problems == []
    assert parsed.tags == TAGS
    assert parsed.lines == [2, 3, 4]


def test_a_semicolon_file_with_decimal_commas_and_columns_in_any_order_is_read() -> None:
    text = "Address;Name;Scale;Type;range_low;range_high;Writable\n7;speed;0,25;uint16;-1,5;3;No\n"
    parsed = parse_tags_csv(text)
    assert parsed.problems == []
    assert parsed.tags == [
        {
            "address": 7,
            "name": "speed",
            "scale": 0.25,
            "type": "uint16",
            "range": [-1.5, 3],
            "writable": False,
        }
    ]


def test_blank_lines_are_skipped_and_a_quoted_cell_over_two_lines_keeps_its_start() -> None:
    text = 'name,address,description\na,1,"two\nlines"\n\nb,2,\n'
    parsed = parse_tags_csv(text)
    assert [tag["name"] for tag in parsed.tags] == ["a", "b"]
    assert parsed.lines == [2, 5]
    assert parsed.tags[0]["description"] == "two\nlines"


def test_values_of_the_wrong_kind_are_left_for_the_validator() -> None:
    parsed = parse_tags_csv("name,address,type,scale\nx,12a,flaot32,fast\n")
    assert parsed.problems == []
    assert parsed.tags == [{"name": "x", "address": "12a", "type": "flaot32", "scale": "fast"}]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("", [RowProblem(1, "the first line must name the columns: " + ", ".join(COLUMNS))]),
        (
            "name,adress\n",
            [RowProblem(1, "unknown column 'adress'; the columns are " + ", ".join(COLUMNS))],
        ),
        ("address,type\n", [RowProblem(1, "the column 'name' is missing")]),
        ("name,Name\n", [RowProblem(1, "column 'name' is named twice")]),
        (
            "name,address\na,1\nb,2,3\nc,3\nd,4,5,6\n",
            [
                RowProblem(3, "3 cells, but the header names 2 columns"),
                RowProblem(5, "4 cells, but the header names 2 columns"),
            ],
        ),
        (
            "name,writable\na,true\nb,maybe\n",
            [
                RowProblem(3, "writable: expected true or false (got 'maybe')"),
            ],
        ),
        (
            "name,range_low,range_high\na,0,\n",
            [
                RowProblem(2, "range_low and range_high are given together or not at all"),
            ],
        ),
        ('name,address\n"a,1\n', [RowProblem(2, "not CSV: unexpected end of data")]),
    ],
)
def test_each_bad_row_is_reported_with_its_line_and_no_tag_is_taken(
    text: str, problems: list[RowProblem]
) -> None:
    parsed = parse_tags_csv(text)
    assert parsed.problems == problems
    assert parsed.tags == []
    assert parsed.lines == []
