"""Link URLs: where a Modbus device is reached, parsed and validated without any I/O.

Three kinds of link:

- ``modbus-tcp://host[:port]``: Modbus TCP (MBAP framing), port 502 by default.
- ``rtu-over-tcp://host:port``: RTU frames through a transparent TCP-to-serial converter.
  The port is required: converters have no standard one (4001, 4196, 8899 are common).
- ``modbus-rtu:///dev/ttyUSB0?baudrate=19200&parity=E&stopbits=1&bytesize=8``: a local
  serial port. Defaults are 9600 baud, no parity, 1 stop bit, 8 data bits (9600 8N1, the
  commonest factory setting); only these four options exist. The path must name a serial
  device (`SERIAL_PATHS`): the port is opened for reading and writing, so any other file
  is refused (issue #17).

Hosts are checked as sockets will use them (`drivers.link.host_problem`), so that a name
the resolver cannot even encode is an error here and not an exception at the first
connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, parse_qsl

from drivers.link import expected_forms, host_problem, split_url, unknown_scheme

MODBUS_TCP_PORT = 502
# Serial ports as Linux names them: built-in and USB UARTs (/dev/ttyS0, /dev/ttyUSB0,
# /dev/ttyACM0, /dev/ttyAMA0, ...), udev's stable names for USB adapters, pseudo-terminals
# (socat, virtual serial ports) and Bluetooth serial links.
SERIAL_PATHS = ("/dev/tty*", "/dev/serial/by-id/*", "/dev/serial/by-path/*", "/dev/pts/<n>",
                "/dev/rfcomm<n>")
_SERIAL_PATH = re.compile(r"/dev/(?:tty[^/]+|serial/by-(?:id|path)/[^/]+|pts/\d+|rfcomm\d+)")
_SERIAL_OPTIONS = ("baudrate", "parity", "stopbits", "bytesize")
URL_FORMS = (
    "modbus-tcp://host[:port]",
    "rtu-over-tcp://host:port",
    "modbus-rtu:///dev/<port>[?baudrate=&parity=&stopbits=&bytesize=]",
)
_EXPECTED = expected_forms(URL_FORMS)


class Scheme(StrEnum):
    """The kind of link, as written in the URL scheme."""

    TCP = "modbus-tcp"
    RTU_OVER_TCP = "rtu-over-tcp"
    RTU = "modbus-rtu"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """One physical link to one or more devices; build it with `LinkSettings.parse`."""

    scheme: Scheme
    host: str = ""
    port: int = 0
    device: str = ""
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    @classmethod
    def parse(cls, url: str) -> LinkSettings:
        """Parse and validate a link URL; ValueError says what is wrong and what is expected."""
        parts = split_url(url, _EXPECTED)
        try:
            scheme = Scheme(parts.scheme.lower())
        except ValueError:
            raise unknown_scheme(url, parts.scheme, _EXPECTED) from None
        if parts.fragment:
            raise ValueError(f"{url!r}: unexpected fragment {parts.fragment!r}; {_EXPECTED}")
        if scheme is Scheme.RTU:
            return cls._parse_serial(url, parts.netloc, parts.path, parts.query)
        return cls._parse_tcp(url, scheme, parts)

    @classmethod
    def _parse_tcp(cls, url: str, scheme: Scheme, parts: SplitResult) -> LinkSettings:
        form = (
            f"{scheme}://host:port" if scheme is Scheme.RTU_OVER_TCP else f"{scheme}://host[:port]"
        )
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"{url!r}: user and password are not supported; expected {form}")
        if not parts.hostname:
            raise ValueError(f"{url!r}: missing host; expected {form}")
        problem = host_problem(parts.hostname)
        if problem is not None:
            raise ValueError(f"{url!r}: host {parts.hostname!r} {problem}; expected {form}")
        if parts.path not in ("", "/"):
            raise ValueError(f"{url!r}: unexpected path {parts.path!r}; expected {form}")
        if parts.query:
            raise ValueError(
                f"{url!r}: {scheme} links take no options (got {parts.query!r}); expected {form}"
            )
        bad_port = f"{url!r}: port must be an integer 1..65535 (got {_raw_port(parts)!r})"
        try:
            port = parts.port
        except ValueError:
            raise ValueError(bad_port) from None
        if port is None:
            if scheme is Scheme.RTU_OVER_TCP:
                raise ValueError(
                    f"{url!r}: missing port; serial converters have no standard port, "
                    f"expected {form}"
                )
            port = MODBUS_TCP_PORT
        if port == 0:
            raise ValueError(bad_port)
        return cls(scheme=scheme, host=parts.hostname, port=port)

    @classmethod
    def _parse_serial(cls, url: str, netloc: str, path: str, query: str) -> LinkSettings:
        if netloc or not path.startswith("/") or path == "/":
            raise ValueError(
                f"{url!r}: the serial port must be an absolute path after three slashes, "
                "e.g. modbus-rtu:///dev/ttyUSB0"
            )
        if not _SERIAL_PATH.fullmatch(path) or path.rpartition("/")[2] in (".", ".."):
            raise ValueError(
                f"{url!r}: {path} is not a serial port; expected "
                f"{', '.join(SERIAL_PATHS[:-1])} or {SERIAL_PATHS[-1]}"
            )
        options: dict[str, str] = {}
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            raise ValueError(
                f"{url!r}: options must look like baudrate=19200&parity=E (got {query!r})"
            ) from None
        for key, value in pairs:
            if key not in _SERIAL_OPTIONS:
                raise ValueError(
                    f"{url!r}: unknown option {key!r}; expected {', '.join(_SERIAL_OPTIONS)}"
                )
            if key in options:
                raise ValueError(f"{url!r}: option {key!r} given twice")
            options[key] = value
        return cls(
            scheme=Scheme.RTU,
            device=path,
            baudrate=_int_option(url, options, "baudrate", 9600, None),
            parity=_parity(url, options.get("parity", "N")),
            stopbits=_int_option(url, options, "stopbits", 1, (1, 2)),
            # Modbus over Serial Line V1.02 §2.5.1: an RTU character has 8 data bits.
            bytesize=_int_option(url, options, "bytesize", 8, (8,)),
        )

    @property
    def key(self) -> str:
        """The physical link: devices whose settings share a key share one connection."""
        if self.scheme is Scheme.RTU:
            return f"serial:{self.device}"
        return f"tcp:{_bracketed(self.host)}:{self.port}"

    @property
    def rtu_framed(self) -> bool:
        """RTU frames carry no transaction id, so a late answer cannot be told apart."""
        return self.scheme is not Scheme.TCP

    def __str__(self) -> str:
        if self.scheme is Scheme.RTU:
            return (
                f"{self.scheme}://{self.device}?baudrate={self.baudrate}&parity={self.parity}"
                f"&stopbits={self.stopbits}&bytesize={self.bytesize}"
            )
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}"


def _raw_port(parts: SplitResult) -> str:
    host_port = parts.netloc.rpartition("@")[2]
    return host_port.rpartition("]")[2].partition(":")[2]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _int_option(
    url: str, options: dict[str, str], name: str, default: int, allowed: tuple[int, ...] | None
) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    if allowed is None:
        expected = "a positive integer"
    elif len(allowed) == 1:
        expected = str(allowed[0])
    else:
        expected = f"one of {', '.join(map(str, allowed))}"

    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if value <= 0 or (allowed is not None and value not in allowed):
        raise ValueError(f"{url!r}: {name} must be {expected} (got {raw!r})")
    return value


def _parity(url: str, raw: str) -> str:
    parity = raw.upper()
    if parity not in ("N", "E", "O"):
        raise ValueError(f"{url!r}: parity must be one of N, E, O (got {raw!r})")
    return parity
