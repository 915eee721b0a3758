"""The acknowledgement command MES publishes, parsed and validated (schemas/ack.json), with
its optional `verdict` on the activation it acknowledges (issue #12).

The checks here are the schema's, written out so that the gateway needs no JSON Schema
library at run time; tests hold the two to the same verdicts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.alarms import COMMENT_MAX
from gateway.store.labels import FAULT_CODE_MAX, NOTE_MAX, VERDICTS, VerdictDraft

USER_MAX = 256
# Above the longest valid command (user, comment and the verdict's fault code and note
# written as \uXXXX escapes of surrogate pairs, 12 bytes a character, are under 60 KB), and
# small enough that nothing bigger is decoded (issue #17).
PAYLOAD_MAX = 65536
_KEYS = {"user", "comment", "id", "verdict"}
_VERDICT_KEYS = {"verdict", "fault_code", "note"}
# The canonical 8-4-4-4-12 form only: uuid.UUID would also take braces, "urn:uuid:" and
# no hyphens, which the schema's pattern does not.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class CommandError(ValueError):
    """A command payload that is not valid; the message says why."""


class RefusalLog:
    """Refused commands, logged at most once per alarm and reason per `interval_s`.

    A flood of refusals must not bury the log (5,000 bad commands wrote 5,000 WARNING
    lines; issue #17): within an interval the first refusal of each alarm and reason is
    logged, at most `max_lines` in all (the alarm name is the sender's to vary), and the
    others only counted; when the interval ends, one WARNING says how many were not logged.
    Use on the event loop; `close` logs what is still untold.
    """

    def __init__(self, log: logging.Logger, interval_s: float = 60.0, max_lines: int = 10) -> None:
        self._log = log  # the owner's: the lines name the module that refused
        self._interval_s = interval_s
        self._max_lines = max_lines
        self._logged: set[tuple[str, str]] = set()  # in this interval
        self._untold = 0
        self._interval_end: asyncio.TimerHandle | None = None

    def refused(self, alarm: str, reason: str) -> None:
        """Log the refusal, unless this interval has logged it or enough others."""
        if self._interval_end is None:
            self._interval_end = asyncio.get_running_loop().call_later(
                self._interval_s, self._end_interval
            )
        key = (alarm, reason)
        if key in self._logged or len(self._logged) >= self._max_lines:
            self._untold += 1
            return
        self._logged.add(key)
        self._log.warning("acknowledgement of alarm %r over MQTT refused: %s", alarm, reason)

    def close(self) -> None:
        """End the interval now."""
        if self._interval_end is not None:
            self._interval_end.cancel()
            self._end_interval()

    def _end_interval(self) -> None:
        if self._untold:
            self._log.warning(
                "%d more acknowledgements over MQTT refused in the last %.0f s, not logged "
                "one by one (commands_refused counts every one)", self._untold, self._interval_s
            )
        self._logged.clear()
        self._untold = 0
        self._interval_end = None


@dataclass(frozen=True, slots=True)
class AckCommand:
    """Acknowledge an alarm; with `event_id`, only if that is still its latest event."""

    user: str
    comment: str
    event_id: uuid.UUID | None
    verdict: VerdictDraft | None = None  # on the activation acknowledged (issue #12)


def parse_ack(payload: bytes) -> AckCommand:
    """The command in `payload`; raises CommandError with the reason if it is not valid."""
    if len(payload) > PAYLOAD_MAX:
        raise CommandError(
            f"payload is {len(payload)} bytes; at most {PAYLOAD_MAX} are accepted"
        )
    try:
        data: Any = json.loads(payload.decode("utf-8"))
    except RecursionError:
        # Deeply nested arrays or objects: the decoder gives up, and so do we (issue #17).
        raise CommandError("not JSON: nested too deeply; expected a flat JSON object") from None
    except ValueError as error:
        # Undecodable UTF-8, invalid JSON, or an integer past Python's 4300 digits.
        raise CommandError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise CommandError(f"must be a JSON object (got {type(data).__name__})")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CommandError(
            f"unknown keys {unknown}; expected user, comment and optional id and verdict"
        )
    user = _text(data, "user", 1, USER_MAX)
    comment = _text(data, "comment", 0, COMMENT_MAX)
    verdict = _verdict(data.get("verdict"))
    event_id = data.get("id")
    if event_id is None:
        return AckCommand(user, comment, None, verdict)
    if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
        raise CommandError(f"id must be an event UUID or null (got {event_id!r})")
    return AckCommand(user, comment, uuid.UUID(event_id), verdict)


def _verdict(data: object) -> VerdictDraft | None:
    """The optional `verdict` object: {"verdict": "confirmed" | "false" | "unsure",
    "fault_code": ..., "note": ...}, or null."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CommandError(f"verdict must be an object or null (got {type(data).__name__})")
    unknown = sorted(set(data) - _VERDICT_KEYS)
    if unknown:
        raise CommandError(
            f"verdict: unknown keys {unknown}; expected verdict and optional fault_code, note"
        )
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        shown = repr(verdict)[:40]  # the sender's value, bounded in the log line
        raise CommandError(f"verdict.verdict must be one of {', '.join(VERDICTS)} (got {shown})")
    fault_code = _text(data, "fault_code", 0, FAULT_CODE_MAX, "", "verdict.")
    note = _text(data, "note", 0, NOTE_MAX, "", "verdict.")
    return VerdictDraft(verdict, fault_code, note)


def _text(
    data: dict[str, Any],
    key: str,
    least: int,
    most: int,
    default: str | None = None,
    within: str = "",
) -> str:
    if key not in data:
        if default is not None:
            return default
        raise CommandError(f"{within}{key} is missing")
    value = data[key]
    if not isinstance(value, str):
        raise CommandError(f"{within}{key} must be a string (got {type(value).__name__})")
    if not least <= len(value) <= most:
        raise CommandError(f"{within}{key} must be {least} to {most} characters long")
    return value
