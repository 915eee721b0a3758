"""The one mapping from the gateway's Quality to an OPC UA StatusCode."""

from __future__ import annotations

from types import MappingProxyType

from asyncua import ua

from gateway.core.quality import Quality
from gateway.opcua.uatypes import make_status

_CODES: MappingProxyType[Quality, int] = MappingProxyType(
    {
        Quality.WAITING: ua.StatusCodes.BadWaitingForInitialData,
        Quality.GOOD: ua.StatusCodes.Good,
        # Uncertain, not Bad: a Bad status makes the value null (Part 4 §7.7.1), and the
        # point of LAST_USABLE is that clients keep seeing the last value.
        Quality.LAST_USABLE: ua.StatusCodes.UncertainLastUsableValue,
        Quality.COMM_ERROR: ua.StatusCodes.BadCommunicationError,
        Quality.DEVICE_ERROR: ua.StatusCodes.BadDeviceFailure,
        Quality.CONFIG_ERROR: ua.StatusCodes.BadConfigurationError,
    }
)

# StatusCode instances are shared: nothing in asyncua or here mutates them, and building
# one per sample is measurable at 15,000 samples per second.
_STATUS: MappingProxyType[Quality, ua.StatusCode] = MappingProxyType(
    {quality: make_status(code) for quality, code in _CODES.items()}
)


_SHOWN: MappingProxyType[Quality, bool] = MappingProxyType(
    {quality: not status.is_bad() for quality, status in _STATUS.items()}
)


def status_code(quality: Quality) -> ua.StatusCode:
    """The StatusCode a value of this quality carries."""
    return _STATUS[quality]


def keeps_value(quality: Quality) -> bool:
    """Whether a value of this quality is shown; Bad statuses carry no value (Part 4 §7.7.1)."""
    return _SHOWN[quality]
