"""UN/ECE units as EUInformation (Part 8 §5.6.3)."""

from __future__ import annotations

import logging

import pytest

from gateway.opcua.units import (
    UNECE_NAMESPACE,
    UNITS,
    UnitCatalogue,
    find_unit,
    unit_id,
)

# UnitIds copied from the OPC Foundation's UNECE_to_OPCUA.csv, not computed.
OPC_CSV_UNIT_IDS = {
    "CEL": 4408652,
    "BAR": 4342098,
    "AMP": 4279632,
    "RPM": 5394509,
    "C16": 4403510,
    "MQH": 5067080,
    "HUR": 4740434,
    "KWT": 4937556,
    "HTZ": 4740186,
    "VLT": 5655636,
    "4H": 13384,
    "2Z": 12890,
    "NU": 20053,
}


@pytest.mark.parametrize(("code", "expected"), sorted(OPC_CSV_UNIT_IDS.items()))
def test_unit_id_matches_the_opc_foundation_table(code: str, expected: int) -> None:
    assert unit_id(code) == expected


@pytest.mark.parametrize("code", ["", "ABCD", "°C"])
def test_unit_id_refuses_what_is_not_a_common_code(code: str) -> None:
    with pytest.raises(ValueError, match="common code"):
        unit_id(code)


@pytest.mark.parametrize(
    ("spelling", "code", "symbol"),
    [
        ("bar", "BAR", "bar"),
        ("degC", "CEL", "°C"),
        ("°C", "CEL", "°C"),
        ("A", "AMP", "A"),
        ("rpm", "RPM", "r/min"),
        ("mm/s", "C16", "mm/s"),
        ("m3/h", "MQH", "m³/h"),
        ("h", "HUR", "h"),
        ("%", "P1", "%"),
        ("V", "VLT", "V"),
        ("kW", "KWT", "kW"),
        ("Hz", "HTZ", "Hz"),
        (" kWh ", "KWH", "kW·h"),
    ],
)
def test_configuration_spellings_find_their_unit(spelling: str, code: str, symbol: str) -> None:
    unit = find_unit(spelling)
    assert unit is not None
    assert (unit.code, unit.symbol) == (code, symbol)


def test_case_matters() -> None:
    milli, mega = find_unit("mW"), find_unit("MW")
    assert milli is None  # not in the table: must not be taken for megawatt
    assert mega is not None
    assert mega.code == "MAW"


def test_no_spelling_names_two_units() -> None:
    spellings = [s for unit in UNITS for s in unit.spellings]
    assert len(spellings) == len(set(spellings))


def test_known_unit_as_eu_information() -> None:
    eu = UnitCatalogue().eu_information("degC")
    assert eu.NamespaceUri == UNECE_NAMESPACE
    assert eu.UnitId == 4408652
    assert eu.DisplayName.Text == "°C"
    assert eu.Description.Text == "degree Celsius"


def test_unknown_unit_keeps_its_text_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = UnitCatalogue()
    with caplog.at_level(logging.WARNING, logger="gateway.opcua.units"):
        first = catalogue.eu_information("widgets/h")
        second = catalogue.eu_information("widgets/h")
    assert first.UnitId == second.UnitId == -1
    assert first.DisplayName.Text == "widgets/h"
    warnings = [r for r in caplog.records if "widgets/h" in r.getMessage()]
    assert len(warnings) == 1
