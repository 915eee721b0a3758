"""The notification sections (issue #15): `[notify]`, `[email]` and the rules an audience
(an e-mail recipient, a Telegram chat) sets for what it is sent.

`AudienceRules` is the base of `[[email.recipients]]` and `[[telegram.chats]]`, so both
take the same keys: events, min_severity, assets, alarms, language, alarm_cleared,
quiet_hours, escalate_after. docs/notifications.md lists them.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import time
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.frozen import FilePath, Frozen
from gateway.config.problem import Finding
from gateway.config.secret import read_secret
from gateway.config.tls_checks import missing_files
from web.i18n import Language

# What `events` takes: "alarm" (raised, and cleared with `alarm_cleared = true`), or a kind.
EVENT_NAMES = (
    "alarm",
    "alarm_raised",
    "alarm_cleared",
    "alarm_unacknowledged",
    "maintenance_due",
    "device_down",
    "model_rejected",
    "training_finished",
)
Severity = Annotated[int, Field(ge=1, le=1000)]
_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _clock_time(value: str) -> str:
    if not _CLOCK_TIME.fullmatch(value):
        raise ValueError('must be a time of day "HH:MM" (00:00 to 23:59)')
    return value


class QuietHours(Frozen):
    """Hours in the gateway's local time when only events of `min_severity` or more are
    sent; the others are not (the page still lists them). `start` after `end` spans
    midnight."""

    start: str
    end: str
    min_severity: Severity = 800

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        return _clock_time(value)

    def covers(self, at: time) -> bool:
        """Whether the local time of day `at` falls within the quiet hours."""
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        if start <= end:
            return start <= at < end
        return at >= start or at < end


class AudienceRules(Frozen):
    """Which events one audience is sent, and how."""

    events: list[str] = Field(default_factory=lambda: ["alarm", "maintenance_due",
                                                       "device_down"])
    min_severity: Severity = 1
    assets: list[str] = Field(default_factory=list)  # empty: every asset and device
    alarms: list[str] = Field(default_factory=list)  # name patterns (* ?); empty: all
    language: Language | None = None  # None: [notify] language
    alarm_cleared: bool = False  # with "alarm": also when an alarm clears
    quiet_hours: QuietHours | None = None
    # alarm_unacknowledged: an alarm still unacknowledged this many seconds after it was
    # raised is sent (escalation to this audience).
    escalate_after: Annotated[float, Field(gt=0.0, le=7 * 86400.0)] = 1800.0

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in EVENT_NAMES:
                raise ValueError(f"{name!r} is not an event; one of {', '.join(EVENT_NAMES)}")
        return value

    def wants_alarm(self, name: str) -> bool:
        """Whether an alarm of this name is selected by `alarms`."""
        return not self.alarms or any(fnmatch.fnmatchcase(name, p) for p in self.alarms)


class NotifySection(Frozen):
    """The `[notify]` table: what every channel shares."""

    # None: [gateway] language, the page's default (one default for the whole gateway).
    language: Language | None = None
    # The web page's address as people reach it, for the links in messages; none without.
    page_url: str | None = None
    # More than this many events for one audience within a minute are sent as one digest.
    digest_after: Annotated[int, Field(ge=1, le=1000)] = 10
    device_down_after: Annotated[float, Field(ge=0.0, le=7 * 86400.0)] = 300.0

    @field_validator("page_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http:// or https:// URL")
        return value


_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}
PASSWORD_ENV = "UVELKA_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a password


class EmailRecipient(AudienceRules):
    """One `[[email.recipients]]` table: an address and its rules."""

    address: str

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError("must be an e-mail address, name@domain")
        return value


class EmailSection(Frozen):
    """The `[email]` table: the SMTP server notifications are sent through."""

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None  # None: by `security`
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    # The password: this file's first line, or the UVELKA_SMTP_PASSWORD variable.
    password_file: FilePath | None = None
    sender: str
    ca_file: FilePath | None = None  # None: the system's trusted CAs
    timeout: Annotated[float, Field(gt=0.0, le=300.0)] = 30.0
    recipients: list[EmailRecipient] = Field(default_factory=list)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _EMAIL.search(value):
            raise ValueError('must hold an e-mail address ("Uvelka <uvelka@plant.example>")')
        return value

    @model_validator(mode="after")
    def _password_with_user(self) -> EmailSection:
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    @property
    def smtp_port(self) -> int:
        return self.port or _SMTP_PORTS[self.security]

    def password(self) -> str | None:
        """The password from `password_file`, else from the environment; OSError if the file
        cannot be read (blocking: call at start)."""
        return read_secret(self.password_file, PASSWORD_ENV)


def check_email(email: EmailSection) -> list[Finding]:
    """The files [email] names are there (the password is read at start)."""
    return missing_files(("email",), {"password_file": email.password_file,
                                      "ca_file": email.ca_file})
