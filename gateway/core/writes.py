"""Why a write requested by a client did not reach the device."""

from __future__ import annotations

from enum import StrEnum


class WriteFailureReason(StrEnum):
    UNKNOWN_TAG = "unknown tag"
    NOT_WRITABLE = "not writable"
    TYPE_MISMATCH = "type mismatch"
    OUT_OF_RANGE = "out of range"
    COMM_ERROR = "communication error"
    DEVICE_ERROR = "device error"
    CONFIG_ERROR = "address does not exist"


class WriteFailure(Exception):
    """A write that failed; `reason` decides the status code a protocol front end returns."""

    def __init__(self, reason: WriteFailureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
