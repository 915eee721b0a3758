"""What the device form sends, made into TOML values for the configuration validator.

Form inputs are text. A field's text becomes the TOML type that field takes when it reads
as one ("3" -> 3 for an address, "0.5" -> 0.5 for a scale, "0, 100" -> [0.0, 100.0] for a
range); otherwise it is passed on as text, so the validator says what is wrong with
exactly the message `uvelka check-config` gives. An empty field is left out: its default
applies. Fields the form does not know pass through untouched.
"""

from __future__ import annotations

import math
import re
from typing import Any

from web.requests import BadRequest

INTEGER_FIELDS = frozenset({"unit_id", "max_registers", "max_bits", "max_gap",
                            "address", "bit", "length"})
NUMBER_FIELDS = frozenset({"poll_interval", "timeout", "stale_after", "scale", "offset",
                           "deadband"})
_INTEGER = re.compile(r"[+-]?\d+")


def device_tables(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `devices` list of a request body, each device and tag with its values typed."""
    devices = body.get("devices")
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise BadRequest("devices: expected a list of objects")
    typed: list[dict[str, Any]] = []
    for device in devices:
        table = typed_fields(device)
        tags = device.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise BadRequest(f"devices[{len(typed)}].tags: expected a list of objects")
        if "tags" in device:
            table["tags"] = [typed_fields(tag) for tag in tags]
        typed.append(table)
    return typed


def typed_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """One device's or tag's fields, each text made into its TOML value (`tags` left out)."""
    typed: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "tags":
            continue
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
            value = _from_text(key, value)
        typed[key] = value
    return typed


def _from_text(key: str, text: str) -> object:
    if key in INTEGER_FIELDS and _INTEGER.fullmatch(text):
        return int(text)
    if key in NUMBER_FIELDS:
        return _number(text)
    if key == "range":
        low, comma, high = text.strip("[]").partition(",")
        bounds = [_number(low.strip()), _number(high.strip())]
        if comma and all(isinstance(bound, int | float) for bound in bounds):
            return bounds
    return text


def _number(text: str) -> object:
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text
