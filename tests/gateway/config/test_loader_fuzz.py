"""Property: whatever TOML document it is given, the config loader answers with problems
that each say what is wrong in one line, never a traceback (issue #14, the fault and fuzz
suite). The documents are random text, and random tables under the sections and keys a
real gateway.toml has, each holding a value of any TOML type.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.loader import validate_text

KEYS = [
    "name",
    "url",
    "unit",
    "poll_interval",
    "timeout",
    "stale_after",
    "tags",
    "table",
    "address",
    "type",
    "order",
    "length",
    "bit",
    "scale",
    "offset",
    "range",
    "deadband",
    "writable",
    "unit_of_measure",
    "port",
    "security",
    "anonymous",
    "max_sessions",
    "host",
    "topic",
    "models_dir",
    "asset",
    "inputs",
    "model",
    "kind",
    "threshold",
    "severity",
    "limit",
    "data_dir",
    "tls",
    "listen",
    "retention",
]
SECTIONS = ["gateway", "opcua", "mqtt", "web", "analytics", "history"]
ARRAYS = ["devices", "assets", "alarms"]
SCALARS = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.datetimes(timezones=st.none() | st.just(dt.UTC))
    | st.sampled_from(
        [
            "holding",
            "coil",
            "uint16",
            "float32",
            "ABCD",
            "DCBA",
            "modbus-tcp://127.0.0.1:502",
            "None",
            "Basic256Sha256:SignAndEncrypt",
            "press-1",
            "10.0.0.7:502",
        ]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
TABLES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)
TAGS = st.lists(TABLES, max_size=3)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        **{section: TABLES for section in SECTIONS},
        **{
            array: st.lists(
                TABLES.flatmap(lambda t: st.just(t) | TAGS.map(lambda tags: {**t, "tags": tags})),
                max_size=3,
            )
            for array in ARRAYS
        },
    },
)


def assert_clear(text: str) -> None:
    config, problems = validate_text(text, "gateway.toml")
    if config is None:
        assert any(problem.is_error for problem in problems), problems
    for problem in problems:
        line = str(problem)
        assert problem.message.strip(), line
        assert "\n" not in line, line
        assert "Traceback" not in line


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_any_gateway_toml_gets_clear_problems(document: dict[str, Any]) -> None:
    assert_clear(tomlkit.dumps(document))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gets_clear_problems(text: str) -> None:
    assert_clear(text)
