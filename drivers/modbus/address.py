"""Where a Modbus tag lives, checked with no I/O: table, address, bit, width, writability.

Each check returns (key, message) pairs, the key being the tag setting to fix ("bit",
"address", ...), so a caller can point at its own path for it (the gateway prints
`devices[0].tags[3].bit: ...`) while this module knows nothing of configuration files.
"""

from __future__ import annotations

from drivers.base import DataType, Table, Tag

ADDRESS_SPACE = 65536  # PDU addresses are 16-bit (Modbus Application Protocol V1.1b3 §4.4)

# Manuals often number registers from 1 with the table in the leading digit: 40001 is
# holding register 0, 30001 input register 0; the 6-digit form reaches all 65536.
_ONE_BASED = (
    (Table.HOLDING, 40001, 49999),
    (Table.INPUT, 30001, 39999),
    (Table.HOLDING, 400001, 465536),
    (Table.INPUT, 300001, 365536),
)
_BIT_ONLY_IN_REGISTER = "bit is only allowed on a bool in a holding or input register"

Finding = tuple[str, str]
"""(tag setting, message)."""


def address_problems(
    tag: Tag, *, writable: bool = False, max_registers: int | None = None
) -> list[Finding]:
    """Errors in where `tag` lives; `max_registers` is the device's request limit, if known."""
    problems = _in_bit_table(tag) if tag.table.is_bit else _in_register_table(tag, max_registers)
    problems += _length(tag)
    problems += _span(tag)
    if writable and not tag.table.is_writable:
        message = f"writable is only allowed in a holding or coil table ({tag.table} is read-only)"
        problems.append(("writable", message))
    return problems


def address_hints(tag: Tag) -> list[Finding]:
    """Valid addresses that probably mean something else (1-based register numbers)."""
    guess = one_based(tag.address)
    if guess is None or guess[0] is not tag.table or tag.address >= ADDRESS_SPACE:
        return []
    return [("address", _use(guess))]


def one_based(number: int) -> tuple[Table, int] | None:
    """The (table, address) a 1-based register number like 40001 stands for, if it is one."""
    for table, first, last in _ONE_BASED:
        if first <= number <= last:
            return table, number - first
    return None


def _in_bit_table(tag: Tag) -> list[Finding]:
    problems: list[Finding] = []
    if tag.type is not DataType.BOOL:
        problems.append(
            ("type", f"{_a(tag.type)} cannot live in a {tag.table} table; use holding or input")
        )
    if tag.bit is not None:
        problems.append(("bit", _BIT_ONLY_IN_REGISTER))
    return problems


def _in_register_table(tag: Tag, max_registers: int | None) -> list[Finding]:
    problems: list[Finding] = []
    if tag.bit is not None:
        if tag.type is not DataType.BOOL:
            problems.append(("bit", _BIT_ONLY_IN_REGISTER))
        elif not 0 <= tag.bit <= 15:
            problems.append(("bit", f"must be between 0 and 15 (got {tag.bit})"))
    if max_registers is not None and tag.width > max_registers:
        # A tag is never cut between two requests, so it must fit in one.
        if tag.type is DataType.STRING:
            key, what = "length", f"a string of {tag.length} characters"
        else:
            key, what = "type", _a(tag.type)
        problems.append(
            (
                key,
                f"{what} needs {tag.width} registers, more than this device's "
                f"max_registers = {max_registers}",
            )
        )
    return problems


def _length(tag: Tag) -> list[Finding]:
    if tag.type is DataType.STRING and tag.length <= 0:
        return [("length", "a string needs length, its size in characters (two per register)")]
    if tag.type is not DataType.STRING and tag.length != 0:
        return [("length", "length is only allowed on a string")]
    return []


def _span(tag: Tag) -> list[Finding]:
    if not 0 <= tag.address < ADDRESS_SPACE:
        message = f"must be between 0 and {ADDRESS_SPACE - 1} (got {tag.address})"
        guess = one_based(tag.address)
        if guess is not None:
            message += f"; {_use(guess)}"
        return [("address", message)]
    if tag.end > ADDRESS_SPACE:
        return [
            (
                "address",
                f"{_a(tag.type)} at {tag.address} needs {tag.width} registers and runs past "
                f"the last address, {ADDRESS_SPACE - 1}",
            )
        ]
    return []


def _use(guess: tuple[Table, int]) -> str:
    table, address = guess
    return f'looks like a 1-based register number; use table = "{table}", address = {address}'


def _a(dtype: DataType) -> str:
    article = "an" if dtype.value.startswith("i") else "a"
    return f"{article} {dtype}"
