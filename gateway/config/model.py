"""The validated configuration: frozen models built from the TOML file.

Field-level checks live on the models. Checks across fields and items (unique names,
URL syntax, address ranges, type/table combinations, overlaps) live in
`gateway.config.checks`, so that each problem can name its exact key path.

The models are strict: TOML values carry real types, so a string where a number belongs
(`address = "10"`) or a number where a bool belongs (`writable = 1`) is a mistake to report,
not something to coerce. Only the fields whose TOML form is text or an array are lax:
paths and enums come from strings, `range` from an array.

Whatever validates here must also start (issue #17): every number is finite (TOML has
`nan` and `inf`, and `1e400` is inf), every path free of NUL, every host one a socket can
resolve or bind and every port in range, so nothing the check accepts can raise later.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from drivers.base import ByteOrder, DataType, Table, Tag
from drivers.link import control_character, host_problem
from gateway.config.export import ExportSection
from gateway.config.frozen import FilePath
from gateway.config.frozen import Frozen as _Frozen
from gateway.config.notify import EmailSection, NotifySection
from gateway.config.telegram import TelegramSection
from web.i18n import DEFAULT_LANGUAGE, Language

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NAME_MAX = 64


def _valid_name(value: str) -> str:
    # Names become OPC UA browse names and MQTT topic levels: keep them plain. Messages
    # leave out the value: gateway.config.messages adds "(got ...)" as it was written.
    if not 1 <= len(value) <= _NAME_MAX:
        raise ValueError(f"must be 1 to {_NAME_MAX} characters long")
    if not _NAME.fullmatch(value):
        raise ValueError("must start with a letter or '_' and hold only letters, digits, '_', '-'")
    return value


Name = Annotated[str, AfterValidator(_valid_name)]


def _host(value: str) -> str:
    problem = host_problem(value)
    if problem is not None:
        raise ValueError(f"the host name {problem}")
    return value


def _url_problem(url: str, lowest_port: int) -> str | None:
    """Why a socket cannot use the host or port of `url`, or None (issue #17)."""
    control = control_character(url)
    if control is not None:
        return f"must not hold control characters (found {control!r})"
    parts = urlsplit(url)
    if parts.hostname and (problem := host_problem(parts.hostname)) is not None:
        return f"host {parts.hostname!r} {problem}"
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = -1
    if port is not None and not lowest_port <= port <= 65535:
        return f"port must be a number from {lowest_port} to 65535"
    return None


class GatewaySection(_Frozen):
    name: Name = "uvelka"
    data_dir: FilePath = Path("./var")
    # The web page's language for users who chose none, and the login page's (issue #15).
    language: Language = DEFAULT_LANGUAGE

    @field_validator("name")
    @classmethod
    def _not_a_folder_name(cls, value: str) -> str:
        if value in ("Devices", "Assets"):
            raise ValueError("is reserved for the OPC UA folder of that name; choose another")
        return value


SECURITY_POLICIES = ("Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")
SECURITY_MODES = ("Sign", "SignAndEncrypt")
NO_SECURITY = "None"
DEFAULT_SECURITY = tuple(f"{policy}:SignAndEncrypt" for policy in SECURITY_POLICIES)


def security_problem(entry: str) -> str | None:
    """Why `entry` is not an [opcua] security entry ("None" or "<policy>:<mode>"), or None."""
    if entry == NO_SECURITY:
        return None
    policy, _, mode = entry.partition(":")
    if policy in SECURITY_POLICIES and mode in SECURITY_MODES:
        return None
    return (f"{entry!r} is not a security entry: \"None\" or <policy>:<mode>, policy one "
            f"of {', '.join(SECURITY_POLICIES)}, mode Sign or SignAndEncrypt")


class OpcuaSection(_Frozen):
    endpoint: str = "opc.tcp://0.0.0.0:4840/uvelka"
    namespace: str = Field(default="urn:uvelka:gateway", min_length=1)
    # What clients may ask (issue #17, gateway/opcua/limits.py), advertised as UInt32 in
    # ServerCapabilities. The defaults fit bench/poll.py's scenario B (15,000 items on one
    # subscriber, created 1,000 a call; 1,500 Status values in one Read) on 2 cores; asyncua
    # takes at most 1,000 connections, so no more sessions than that.
    max_sessions: Annotated[int, Field(ge=1, le=1000)] = 50
    max_monitored_items: Annotated[int, Field(ge=1, le=4_294_967_295)] = 50_000
    max_monitored_items_per_call: Annotated[int, Field(ge=1, le=4_294_967_295)] = 1000
    max_nodes_per_call: Annotated[int, Field(ge=1, le=4_294_967_295)] = 2000
    # Issue #14: what a client's SecureChannel must offer, and whether a session may go
    # without a user name (gateway/opcua/security.py says what each entry means).
    security: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_SECURITY))
    anonymous: bool = False
    max_monitored_items_per_session: Annotated[int, Field(ge=1, le=4_294_967_295)] = 20_000
    # The application certificate is renewed when it expires within this many days: at a
    # start and by the running server's daily check (gateway/opcua/pki.py). It is valid
    # 5 years, so at most a year ahead.
    certificate_renew_days: Annotated[int, Field(ge=1, le=365)] = 30

    @field_validator("security")
    @classmethod
    def _known_security(cls, value: list[str]) -> list[str]:
        for entry in value:
            problem = security_problem(entry)
            if problem is not None:
                raise ValueError(problem)
        twice = sorted({entry for entry in value if value.count(entry) > 1})
        if twice:
            raise ValueError(f"lists {twice[0]!r} twice")
        return value

    @field_validator("endpoint")
    @classmethod
    def _opc_tcp(cls, value: str) -> str:
        if not value.startswith("opc.tcp://"):
            raise ValueError("must be an opc.tcp:// URL")
        # Port 0 lets the system choose a free port: the tests listen so.
        problem = _url_problem(value, lowest_port=0)
        if problem is not None:
            raise ValueError(problem)
        return value


class TagConfig(_Frozen):
    name: Name
    table: Annotated[Table, Field(strict=False)]
    # Bounds are checked by the device's driver with the rest of the addressing, where
    # a 6-digit register number (400001) can be told from a plain mistake.
    address: int
    type: Annotated[DataType, Field(strict=False)]
    order: Annotated[ByteOrder, Field(strict=False)] = ByteOrder.ABCD
    bit: Annotated[int, Field(ge=0, le=15)] | None = None
    length: Annotated[int, Field(ge=1, le=250)] | None = None
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    description: str = ""
    range: Annotated[tuple[float, float] | None, Field(strict=False)] = None
    deadband: Annotated[float, Field(ge=0.0)] = 0.0
    writable: bool = False

    @field_validator("scale")
    @classmethod
    def _nonzero_scale(cls, value: float) -> float:
        if value == 0.0:
            raise ValueError("must not be 0, since writes divide by it")
        return value

    @field_validator("range")
    @classmethod
    def _ordered_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] >= value[1]:
            raise ValueError("must be [low, high] with low < high")
        return value

    def as_tag(self, key: str) -> Tag:
        """The driver's view of this tag, under the caller's `key`."""
        return Tag(
            key=key,
            table=self.table,
            address=self.address,
            type=self.type,
            order=self.order,
            bit=self.bit,
            length=self.length or 0,
            scale=self.scale,
            offset=self.offset,
        )


class DeviceConfig(_Frozen):
    name: Name
    url: str
    unit_id: Annotated[int, Field(ge=0, le=255)] = 1
    poll_interval: Annotated[float, Field(gt=0.0, le=86400.0)] = 1.0
    timeout: Annotated[float, Field(gt=0.0, le=60.0)] = 1.0
    stale_after: Annotated[float, Field(ge=0.0)] = 0.0
    max_registers: Annotated[int, Field(ge=1, le=125)] = 125
    max_bits: Annotated[int, Field(ge=1, le=2000)] = 2000
    max_gap: Annotated[int, Field(ge=0, le=125)] = 8
    enabled: bool = True
    tags: list[TagConfig] = Field(default_factory=list)


class AnalyticsSection(_Frozen):
    models_dir: FilePath = Path("models_onnx")
    reload_interval: Annotated[float, Field(gt=0.0, le=3600.0)] = 2.0
    # Bounds of a model file's test inference, run in a child process (issue #17).
    check_timeout: Annotated[float, Field(gt=0.0, le=600.0)] = 10.0
    check_memory_mib: Annotated[int, Field(ge=16, le=65536)] = 512


class AssetConfig(_Frozen):
    name: Name
    anomaly: str | None = None
    rul: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    interval: Annotated[float, Field(gt=0.0, le=86400.0)] = 1.0
    # Default alarms on the model outputs, unless an [[alarms]] table watches that output.
    alarms: bool = True
    rul_alarm_below: Annotated[float, Field(gt=0.0)] | None = None  # None: 10 % of full life

    def models(self) -> dict[str, str]:
        """Model file per kind ("anomaly", "rul"), for the kinds configured."""
        return {kind: file for kind in ("anomaly", "rul") if (file := getattr(self, kind))}


class AlarmConfig(_Frozen):
    """One `[[alarms]]` table; gateway.alarms turns it into an AlarmRule."""

    name: Name
    source: str  # a tag (<device>.<tag>) or an asset output (<asset>.AnomalyScore, ...)
    condition: Literal["above", "below", "true"]
    limit: float | None = None
    hysteresis: Annotated[float, Field(ge=0.0)] = 0.0
    on_delay: Annotated[float, Field(ge=0.0, le=86400.0)] = 0.0
    off_delay: Annotated[float, Field(ge=0.0, le=86400.0)] = 0.0
    severity: Annotated[int, Field(ge=1, le=1000)] = 500
    message: str = ""


_MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class MqttSection(_Frozen):
    """The `[mqtt]` table: the broker MES listens on, and the outbox in front of it."""

    url: str = "mqtt://127.0.0.1:1883"
    topic_prefix: str = Field(default="uvelka", min_length=1)
    client_id: str | None = None  # None: "uvelka-<gateway name>"
    version: Literal["3.1.1", "5"] = "3.1.1"
    qos: Annotated[int, Field(ge=0, le=2)] = 1
    username: str | None = None
    password: str | None = None
    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30
    state_interval: Annotated[float, Field(gt=0.0, le=86400.0)] = 10.0
    outbox_max_messages: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000
    outbox_max_age: Annotated[float, Field(gt=0.0)] = 7 * 86400.0

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in _MQTT_PORTS or not parts.hostname:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        problem = _url_problem(value, lowest_port=1)  # port 0 silently meant the default
        if problem is not None:
            raise ValueError(problem)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port], nothing after")
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        if any(char in value for char in "+#\0") or value.startswith("/") or value.endswith("/"):
            raise ValueError("must not hold '+', '#' or NUL, nor start or end with '/'")
        return value

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or _MQTT_PORTS[parts.scheme]


class WebSection(_Frozen):
    """The `[web]` table: the engineers' web page. Without it the gateway serves no page."""

    host: Annotated[str, Field(min_length=1), AfterValidator(_host)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080  # 0: a free port, as tests listen
    tls_cert: FilePath | None = None
    tls_key: FilePath | None = None
    allow_plain_http: bool = False
    session_max_age: Annotated[int, Field(ge=60, le=7 * 86400)] = 8 * 3600
    metrics_open: bool = False


class HistorySection(_Frozen):
    """The `[history]` table: the tag history behind the web page's Trends.

    The file is `<data_dir>/history.sqlite`. Retention is bounded both ways: it deletes
    whole 10 s chunks (gateway.store.history_schema), and the file grows with it, about
    40 GB a day at 15,000 changing tags (bench/README.md).
    """

    enabled: bool = True
    retention: Annotated[float, Field(ge=60.0, le=366 * 86400.0)] = 7 * 86400.0
    flush_interval: Annotated[float, Field(ge=0.1, le=60.0)] = 1.0
    max_pending: Annotated[int, Field(ge=1000, le=10_000_000)] = 200_000


# Here, not at the top: [sparkplug]'s broker is an MqttSection, defined above (issue #16).
from gateway.config.sparkplug import SparkplugSection  # noqa: E402


class GatewayConfig(_Frozen):
    gateway: GatewaySection = Field(default_factory=GatewaySection)
    opcua: OpcuaSection = Field(default_factory=OpcuaSection)
    analytics: AnalyticsSection = Field(default_factory=AnalyticsSection)
    devices: list[DeviceConfig] = Field(default_factory=list)
    assets: list[AssetConfig] = Field(default_factory=list)
    alarms: list[AlarmConfig] = Field(default_factory=list)
    mqtt: MqttSection | None = None
    web: WebSection | None = None
    history: HistorySection = Field(default_factory=HistorySection)
    # Issue #15: notifications, and the e-mail channel when configured.
    notify: NotifySection = Field(default_factory=NotifySection)
    email: EmailSection | None = None
    telegram: TelegramSection | None = None  # the Telegram channel (issue #15)
    sparkplug: SparkplugSection | None = None  # the Sparkplug B edge node (issue #16)
    export: ExportSection | None = None  # history to ClickHouse (issue #16)

    @property
    def notify_language(self) -> Language:
        """What notifications are written in where an audience chose nothing: `[notify]
        language`, else the gateway's, the page's default (one default for the gateway)."""
        return self.notify.language or self.gateway.language

    def device(self, name: str) -> DeviceConfig:
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(name)
