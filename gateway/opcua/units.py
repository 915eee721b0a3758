"""Engineering units: the unit strings of the configuration as OPC UA EUInformation.

OPC UA Part 8 §5.6.3 identifies units by their UN/ECE Recommendation 20 common code,
packed into an Int32 UnitId, in the namespace below. The codes here were checked
against the OPC Foundation's UNECE_to_OPCUA.csv (OPCFoundation/UA-Nodeset, Schema/);
P1 (percent) and 59 (ppm) are Rec 20 codes that the CSV does not list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import MappingProxyType

from asyncua import ua

logger = logging.getLogger(__name__)

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
UNKNOWN_UNIT_ID = -1  # Part 8 §5.6.3: -1 when no UnitId is available


def unit_id(common_code: str) -> int:
    """The Part 8 UnitId of a UN/ECE common code: its ASCII characters packed big-endian."""
    if not 1 <= len(common_code) <= 3 or not common_code.isascii():
        raise ValueError(f"not a UN/ECE common code: {common_code!r}")
    value = 0
    for char in common_code:
        value = (value << 8) | ord(char)
    return value


@dataclass(frozen=True, slots=True)
class Unit:
    """One UN/ECE unit and the spellings a configuration may use for it."""

    code: str
    symbol: str
    description: str
    spellings: tuple[str, ...]

    def eu_information(self) -> ua.EUInformation:
        return ua.EUInformation(
            NamespaceUri=UNECE_NAMESPACE,
            UnitId=unit_id(self.code),
            DisplayName=ua.LocalizedText(self.symbol),
            Description=ua.LocalizedText(self.description),
        )


UNITS: tuple[Unit, ...] = (
    # temperature
    Unit("CEL", "°C", "degree Celsius", ("degC", "°C")),
    Unit("FAH", "°F", "degree Fahrenheit", ("degF", "°F")),
    Unit("KEL", "K", "kelvin", ("K",)),
    # pressure
    Unit("BAR", "bar", "bar [unit of pressure]", ("bar",)),
    Unit("MBR", "mbar", "millibar", ("mbar",)),
    Unit("PAL", "Pa", "pascal", ("Pa",)),
    Unit("KPA", "kPa", "kilopascal", ("kPa",)),
    Unit("MPA", "MPa", "megapascal", ("MPa",)),
    Unit("PS", "lbf/in²", "pound-force per square inch", ("psi",)),
    # electrical
    Unit("AMP", "A", "ampere", ("A",)),
    Unit("4K", "mA", "milliampere", ("mA",)),
    Unit("VLT", "V", "volt", ("V",)),
    Unit("2Z", "mV", "millivolt", ("mV",)),
    Unit("KVT", "kV", "kilovolt", ("kV",)),
    Unit("WTT", "W", "watt", ("W",)),
    Unit("KWT", "kW", "kilowatt", ("kW",)),
    Unit("MAW", "MW", "megawatt", ("MW",)),
    Unit("D46", "V·A", "volt - ampere", ("VA", "V·A")),
    Unit("KVA", "kV·A", "kilovolt - ampere", ("kVA", "kV·A")),
    Unit("D44", "var", "var", ("var",)),
    Unit("KVR", "kvar", "kilovar", ("kvar",)),
    Unit("WHR", "W·h", "watt hour", ("Wh", "W·h")),
    Unit("KWH", "kW·h", "kilowatt hour", ("kWh", "kW·h")),
    Unit("MWH", "MW·h", "megawatt hour (1000 kW.h)", ("MWh", "MW·h")),
    Unit("OHM", "Ω", "ohm", ("ohm", "Ω")),
    # frequency and rotation
    Unit("HTZ", "Hz", "hertz", ("Hz",)),
    Unit("KHZ", "kHz", "kilohertz", ("kHz",)),
    Unit("RPM", "r/min", "revolutions per minute", ("rpm", "r/min")),
    # time
    Unit("C26", "ms", "millisecond", ("ms",)),
    Unit("SEC", "s", "second [unit of time]", ("s",)),
    Unit("MIN", "min", "minute [unit of time]", ("min",)),
    Unit("HUR", "h", "hour", ("h",)),
    Unit("DAY", "d", "day", ("d",)),
    # length, speed, acceleration (vibration)
    Unit("4H", "µm", "micrometre (micron)", ("µm", "um")),
    Unit("MMT", "mm", "millimetre", ("mm",)),
    Unit("MTR", "m", "metre", ("m",)),
    Unit("C16", "mm/s", "millimetre per second", ("mm/s",)),
    Unit("MTS", "m/s", "metre per second", ("m/s",)),
    Unit("MSK", "m/s²", "metre per second squared", ("m/s²", "m/s2")),
    Unit("K40", "gn", "standard acceleration of free fall", ("gn",)),
    # volume and flow
    Unit("LTR", "l", "litre", ("l", "L")),
    Unit("MTQ", "m³", "cubic metre", ("m3", "m³")),
    Unit("L2", "l/min", "litre per minute", ("l/min", "L/min")),
    Unit("MQH", "m³/h", "cubic metre per hour", ("m3/h", "m³/h")),
    Unit("MQS", "m³/s", "cubic metre per second", ("m3/s", "m³/s")),
    # mass, mass flow, force, torque
    Unit("KGM", "kg", "kilogram", ("kg",)),
    Unit("TNE", "t", "tonne (metric ton)", ("t",)),
    Unit("E93", "kg/h", "kilogram per hour", ("kg/h",)),
    Unit("E18", "t/h", "tonne per hour", ("t/h",)),
    Unit("NEW", "N", "newton", ("N",)),
    Unit("B47", "kN", "kilonewton", ("kN",)),
    Unit("NU", "N·m", "newton metre", ("Nm", "N·m", "N.m")),
    # ratios and levels
    Unit("P1", "%", "percent", ("%",)),
    Unit("59", "ppm", "part per million", ("ppm",)),
    Unit("2N", "dB", "decibel", ("dB",)),
)

_BY_SPELLING: MappingProxyType[str, Unit] = MappingProxyType(
    {spelling: unit for unit in UNITS for spelling in unit.spellings}
)


def find_unit(spelling: str) -> Unit | None:
    """The unit a configuration string names (case matters: mW is not MW), or None."""
    return _BY_SPELLING.get(spelling.strip())


class UnitCatalogue:
    """Builds EUInformation for unit strings; warns once per unknown string."""

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def eu_information(self, spelling: str) -> ua.EUInformation:
        """EUInformation for a unit string; an unknown one keeps its text with UnitId -1."""
        unit = find_unit(spelling)
        if unit is not None:
            return unit.eu_information()
        if spelling not in self._warned:
            self._warned.add(spelling)
            logger.warning(
                "unit %r has no UN/ECE code in gateway.opcua.units: clients see its text "
                "with UnitId -1",
                spelling,
            )
        return ua.EUInformation(
            NamespaceUri=UNECE_NAMESPACE,
            UnitId=UNKNOWN_UNIT_ID,
            DisplayName=ua.LocalizedText(spelling),
            Description=ua.LocalizedText(spelling),
        )
