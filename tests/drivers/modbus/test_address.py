"""drivers.modbus.address: the edges of the address checks, tag by tag, no configuration file."""

from __future__ import annotations

import pytest

from drivers.base import DataType, Table, Tag
from drivers.modbus.address import address_hints, address_problems, one_based


def tag(table: Table, address: int, dtype: DataType, **fields: object) -> Tag:
    return Tag(key="d.t", table=table, address=address, type=dtype, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [t for t in DataType if t is not DataType.STRING])
@pytest.mark.parametrize("table", [Table.HOLDING, Table.INPUT])
def test_every_fixed_type_fits_a_register_table(table: Table, dtype: DataType) -> None:
    assert address_problems(tag(table, 0, dtype), max_registers=125) == []


@pytest.mark.parametrize("table", [Table.COIL, Table.DISCRETE])
def test_a_bit_table_holds_bools_only(table: Table) -> None:
    assert address_problems(tag(table, 0, DataType.BOOL)) == []
    assert address_problems(tag(table, 0, DataType.UINT16)) == [
        ("type", f"a uint16 cannot live in a {table} table; use holding or input")
    ]
    assert address_problems(tag(table, 0, DataType.INT32)) == [
        ("type", f"an int32 cannot live in a {table} table; use holding or input")
    ]


def test_a_bool_may_take_a_whole_register() -> None:
    # The codec reads it as "register != 0" and writes 0 or 1.
    assert address_problems(tag(Table.HOLDING, 5, DataType.BOOL), writable=True) == []


@pytest.mark.parametrize(
    ("bit", "expected"),
    [
        (0, []),
        (15, []),
        (16, [("bit", "must be between 0 and 15 (got 16)")]),
        (-1, [("bit", "must be between 0 and 15 (got -1)")]),
    ],
)
def test_bit_numbers_run_0_to_15(bit: int, expected: list[tuple[str, str]]) -> None:
    assert address_problems(tag(Table.INPUT, 5, DataType.BOOL, bit=bit)) == expected


def test_bit_only_on_a_bool_in_a_register() -> None:
    message = "bit is only allowed on a bool in a holding or input register"
    assert address_problems(tag(Table.HOLDING, 5, DataType.UINT16, bit=2)) == [("bit", message)]
    assert address_problems(tag(Table.COIL, 5, DataType.BOOL, bit=2)) == [("bit", message)]


def test_length_belongs_to_strings() -> None:
    assert address_problems(tag(Table.HOLDING, 0, DataType.STRING, length=1)) == []
    assert address_problems(tag(Table.HOLDING, 0, DataType.STRING)) == [
        ("length", "a string needs length, its size in characters (two per register)")
    ]
    assert address_problems(tag(Table.HOLDING, 0, DataType.FLOAT32, length=4)) == [
        ("length", "length is only allowed on a string")
    ]


@pytest.mark.parametrize(
    ("address", "dtype", "length", "fits"),
    [
        (65535, DataType.UINT16, 0, True),
        (65534, DataType.FLOAT32, 0, True),
        (65535, DataType.FLOAT32, 0, False),
        (65532, DataType.FLOAT64, 0, True),
        (65533, DataType.FLOAT64, 0, False),
        (65535, DataType.STRING, 2, True),  # two characters: one register
        (65535, DataType.STRING, 3, False),
    ],
)
def test_a_tag_ends_inside_the_table(
    address: int, dtype: DataType, length: int, fits: bool
) -> None:
    problems = address_problems(tag(Table.HOLDING, address, dtype, length=length))
    assert (problems == []) == fits
    if not fits:
        assert problems[0][0] == "address"
        assert "runs past the last address, 65535" in problems[0][1]


@pytest.mark.parametrize(
    ("address", "hint"),
    [
        (65536, ""),
        (-1, ""),
        (400001, '; looks like a 1-based register number; use table = "holding", address = 0'),
    ],
)
def test_addresses_outside_the_table(address: int, hint: str) -> None:
    assert address_problems(tag(Table.COIL, address, DataType.BOOL)) == [
        ("address", f"must be between 0 and 65535 (got {address}){hint}")
    ]


@pytest.mark.parametrize(
    ("width_type", "max_registers", "fits"),
    [(DataType.FLOAT64, 4, True), (DataType.FLOAT64, 3, False), (DataType.UINT16, 1, True)],
)
def test_a_tag_fits_one_request(width_type: DataType, max_registers: int, fits: bool) -> None:
    problems = address_problems(tag(Table.INPUT, 0, width_type), max_registers=max_registers)
    assert (problems == []) == fits


def test_a_long_string_is_reported_on_its_length() -> None:
    problems = address_problems(tag(Table.HOLDING, 0, DataType.STRING, length=21), max_registers=10)
    assert problems == [
        (
            "length",
            "a string of 21 characters needs 11 registers, more than this device's "
            "max_registers = 10",
        )
    ]


def test_bit_tables_ignore_the_register_limit() -> None:
    assert address_problems(tag(Table.COIL, 0, DataType.BOOL), max_registers=1) == []


@pytest.mark.parametrize(
    ("table", "writable_ok"),
    [(Table.HOLDING, True), (Table.COIL, True), (Table.INPUT, False), (Table.DISCRETE, False)],
)
def test_writable_tables(table: Table, writable_ok: bool) -> None:
    problems = address_problems(tag(table, 0, DataType.BOOL), writable=True)
    expected = (
        []
        if writable_ok
        else [
            (
                "writable",
                f"writable is only allowed in a holding or coil table ({table} is read-only)",
            )
        ]
    )
    assert problems == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (40001, (Table.HOLDING, 0)),
        (49999, (Table.HOLDING, 9998)),
        (30001, (Table.INPUT, 0)),
        (39999, (Table.INPUT, 9998)),
        (400001, (Table.HOLDING, 0)),
        (465536, (Table.HOLDING, 65535)),
        (300001, (Table.INPUT, 0)),
        (365536, (Table.INPUT, 65535)),
        (40000, None),
        (50000, None),
        (30000, None),
        (465537, None),
        (10001, None),  # discrete-input numbering is not guessed: 10001 is a plausible address
        (1, None),
    ],
)
def test_one_based_register_numbers(number: int, expected: tuple[Table, int] | None) -> None:
    assert one_based(number) == expected


def test_the_hint_needs_the_matching_table() -> None:
    hint = [
        ("address", 'looks like a 1-based register number; use table = "holding", address = 122')
    ]
    assert address_hints(tag(Table.HOLDING, 40123, DataType.UINT16)) == hint
    assert address_hints(tag(Table.INPUT, 40123, DataType.UINT16)) == []
    assert address_hints(tag(Table.HOLDING, 30123, DataType.UINT16)) == []
    assert address_hints(tag(Table.HOLDING, 123, DataType.UINT16)) == []
    # Past the table it is an error, reported by address_problems with the same hint.
    assert address_hints(tag(Table.HOLDING, 400123, DataType.UINT16)) == []
