"""Where a Modbus tag lives, checked with no I/O: what every table allows
(`drivers.base.tag_problems`) and the Modbus address space, with a hint for the 1-based
register numbers of manuals.

Each check returns (key, message) pairs, the key being the tag setting to fix ("bit",
"address", ...), so a caller can point at its own path for it (the gateway prints
`devices[0].tags[3].bit: ...`) while this module knows nothing of configuration files.
"""

from __future__ import annotations

from drivers.base import Table, Tag, TagProblem, a_type, tag_problems

ADDRESS_SPACE = 65536  # PDU addresses are 16-bit (Modbus Application Protocol V1.1b3 §4.4)

# Manuals often number registers from 1 with the table in the leading digit: 40001 is
# holding register 0, 30001 input register 0; the 6-digit form reaches all 65536.
_ONE_BASED = (
    (Table.HOLDING, 40001, 49999),
    (Table.INPUT, 30001, 39999),
    (Table.HOLDING, 400001, 465536),
    (Table.INPUT, 300001, 365536),
)


def address_problems(
    tag: Tag, *, writable: bool = False, max_registers: int | None = None
) -> list[TagProblem]:
    """Errors in where `tag` lives; `max_registers` is the device's request limit, if known."""
    return tag_problems(tag, writable=writable, max_words=max_registers) + _span(tag)


def address_hints(tag: Tag) -> list[TagProblem]:
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


def _span(tag: Tag) -> list[TagProblem]:
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
                f"{a_type(tag.type)} at {tag.address} needs {tag.width} registers and runs past "
                f"the last address, {ADDRESS_SPACE - 1}",
            )
        ]
    return []


def _use(guess: tuple[Table, int]) -> str:
    table, address = guess
    return f'looks like a 1-based register number; use table = "{table}", address = {address}'
