"""Property: whatever payload arrives on the ack command topic, the parser gives a command
or refuses it with a one-line reason, never another exception (issue #14, the fault and
fuzz suite). The bridge's handling of a refusal (logged, counted, the next command
executed) is tested against a real broker in test_commands.py.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mqtt.commands import CommandError, parse_ack

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["confirmed", "false", "unsure", "0b6fb1c2-3c9a-4a52-9d5e-2f2c1c1b7c10"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(["user", "comment", "id", "verdict", "fault_code", "note", "extra"])
VERDICT = st.dictionaries(KEYS, JSON, max_size=4)
COMMANDS = st.dictionaries(KEYS, JSON | VERDICT, max_size=5)


def assert_parsed_or_refused(payload: bytes) -> None:
    try:
        parse_ack(payload)
    except CommandError as refusal:
        reason = str(refusal)
        assert reason.strip()
        assert "\n" not in reason, reason


@settings(max_examples=300, deadline=None)
@given(COMMANDS)
def test_any_ack_object_is_parsed_or_refused_with_a_reason(command: dict[str, Any]) -> None:
    assert_parsed_or_refused(json.dumps(command).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | JSON.map(lambda value: json.dumps(value).encode()))
def test_any_payload_is_parsed_or_refused_with_a_reason(payload: bytes) -> None:
    assert_parsed_or_refused(payload)
