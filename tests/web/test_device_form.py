"""The device form's text made into TOML values, or left as text for the validator."""

from __future__ import annotations

import pytest

from web.device_form import device_tables
from web.requests import BadRequest


def test_numbers_and_ranges_become_toml_values() -> None:
    body = {"devices": [{
        "name": " press-1 ", "url": "tcp://10.0.0.7:502", "unit_id": "3", "poll_interval": "0.5",
        "timeout": "", "enabled": False,
        "tags": [{"name": "force", "address": "12", "scale": "-2.5e-1", "offset": "4",
                  "range": "0, 100.5", "bit": "", "writable": True}],
    }]}
    assert device_tables(body) == [{
        "name": "press-1", "url": "tcp://10.0.0.7:502", "unit_id": 3, "poll_interval": 0.5,
        "enabled": False,
        "tags": [{"name": "force", "address": 12, "scale": -0.25, "offset": 4,
                  "range": [0, 100.5], "writable": True}],
    }]


@pytest.mark.parametrize(("key", "text"), [
    ("address", "12a"), ("address", "1.5"), ("scale", "fast"), ("scale", "nan"),
    ("range", "0"), ("range", "low, high"), ("type", "flaot32"),
])
def test_text_that_is_not_the_fields_type_is_left_for_the_validator(key: str, text: str) -> None:
    tables = device_tables({"devices": [{"name": "d", "tags": [{key: text}]}]})
    assert tables[0]["tags"][0][key] == text


def test_values_already_typed_and_unknown_keys_pass_through() -> None:
    device = {"name": "d", "max_gap": 4, "future_key": [1, 2], "tags": []}
    assert device_tables({"devices": [device]}) == [device]


@pytest.mark.parametrize("body", [
    {}, {"devices": "d"}, {"devices": [1]}, {"devices": [{"name": "d", "tags": "t"}]},
    {"devices": [{"name": "d", "tags": [3]}]},
])
def test_a_body_of_the_wrong_shape_is_a_bad_request(body: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        device_tables(body)
