"""The register image of one benchmark device: which tag sits where, and how it changes.

Shared by the simulated devices and the gateway configuration so that both agree on
every address, and so that one simulated change is exactly one changed tag value.
"""

from __future__ import annotations

from dataclasses import dataclass

# A mix of widths and signedness, as a real device map has; all ABCD (the Modbus default).
_TYPE_CYCLE = ("uint16", "int16", "float32", "uint16", "int32", "float32", "uint32", "int16")
_WORDS = {"uint16": 1, "int16": 1, "int32": 2, "uint32": 2, "float32": 2}
# High word of 10.0f: incrementing only the low word moves the value by a few ulps, so a
# float never wanders into NaN (which compares unequal and would confuse change counting).
_FLOAT_HIGH_WORD = 0x4120


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One tag of the benchmark device map."""

    name: str
    address: int
    type: str

    @property
    def words(self) -> int:
        return _WORDS[self.type]

    @property
    def changing_address(self) -> int:
        """The register a simulated change increments: the least significant word."""
        return self.address + self.words - 1


def tag_layout(count: int) -> list[TagSpec]:
    """`count` holding-register tags packed from address 0, types cycling through the mix."""
    specs: list[TagSpec] = []
    address = 0
    for index in range(count):
        spec = TagSpec(f"t{index:04d}", address, _TYPE_CYCLE[index % len(_TYPE_CYCLE)])
        specs.append(spec)
        address += spec.words
    if address > 0x10000:
        raise ValueError(f"{count} tags need {address} registers, more than a device has")
    return specs


def register_count(specs: list[TagSpec]) -> int:
    """Registers the device must hold for this layout."""
    return specs[-1].address + specs[-1].words if specs else 0


def initial_image(specs: list[TagSpec], seed: int) -> list[int]:
    """A register image where every tag holds a distinct, valid, non-zero value."""
    image = [0] * register_count(specs)
    for index, spec in enumerate(specs):
        low = (seed * 7919 + index * 31 + 1) & 0xFFFF
        if spec.type == "float32":
            image[spec.address] = _FLOAT_HIGH_WORD
        image[spec.changing_address] = low
    return image
