"""The Quality -> StatusCode mapping (style guide §3)."""

from __future__ import annotations

import pytest
from asyncua import ua

from gateway.core.quality import Quality
from gateway.opcua.status import keeps_value, status_code


@pytest.mark.parametrize(
    ("quality", "code", "value_shown"),
    [
        (Quality.WAITING, ua.StatusCodes.BadWaitingForInitialData, False),
        (Quality.GOOD, ua.StatusCodes.Good, True),
        (Quality.LAST_USABLE, ua.StatusCodes.UncertainLastUsableValue, True),
        (Quality.COMM_ERROR, ua.StatusCodes.BadCommunicationError, False),
        (Quality.DEVICE_ERROR, ua.StatusCodes.BadDeviceFailure, False),
        (Quality.CONFIG_ERROR, ua.StatusCodes.BadConfigurationError, False),
    ],
)
def test_each_quality_has_its_status_code(quality: Quality, code: int, value_shown: bool) -> None:
    assert status_code(quality).value == code
    assert keeps_value(quality) is value_shown


def test_last_usable_is_uncertain_not_bad() -> None:
    # asyncua nulls the value of a Bad DataValue (Part 4 §7.7.1): it must stay Uncertain.
    status = status_code(Quality.LAST_USABLE)
    assert status.is_uncertain()
    assert not status.is_bad()


def test_every_quality_is_mapped() -> None:
    assert {status_code(q).value for q in Quality} == {
        ua.StatusCodes.BadWaitingForInitialData,
        ua.StatusCodes.Good,
        ua.StatusCodes.UncertainLastUsableValue,
        ua.StatusCodes.BadCommunicationError,
        ua.StatusCodes.BadDeviceFailure,
        ua.StatusCodes.BadConfigurationError,
    }
