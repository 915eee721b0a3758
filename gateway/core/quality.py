"""Data quality as the gateway reports it, independent of any protocol.

The mapping to OPC UA StatusCodes lives in `gateway.opcua.status`, in one place.
"""

from __future__ import annotations

from enum import IntEnum


class Quality(IntEnum):
    """Quality of a value; higher numbers are worse, so `max()` gives the worst of several."""

    GOOD = 0
    LAST_USABLE = 1  # link failing, value younger than stale_after: kept, marked Uncertain
    WAITING = 2  # no read yet
    COMM_ERROR = 3  # link failing for longer than stale_after
    DEVICE_ERROR = 4  # the device answered with an exception
    CONFIG_ERROR = 5  # the device says the address does not exist

    @property
    def is_good(self) -> bool:
        return self is Quality.GOOD

    @property
    def is_bad(self) -> bool:
        return self >= Quality.WAITING
