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

Hosts are checked as sockets will use them (`host_problem`), so that a name the resolver
cannot even encode is an error here and not an exception at the first connection.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, parse_qsl, urlsplit

MODBUS_TCP_PORT = 502
# Serial ports as Linux names them: built-in and USB UARTs (/dev/ttyS0, /dev/ttyUSB0,
# /dev/ttyACM0, /dev/ttyAMA0, ...), udev's stable names for USB adapters, pseudo-terminals
# (socat, virtual serial ports) and Bluetooth serial links.
SERIAL_PATHS = ("/dev/tty*", "/dev/serial/by-id/*", "/dev/serial/by-path/*", "/dev/pts/<n>",
                "/dev/rfcomm<n>")
_SERIAL_PATH = re.compile(r"/dev/(?:tty[^/]+|serial/by-(?:id|path)/[^/]+|pts/\d+|rfcomm\d+)")
# The separators of the idna codec (encodings.idna.dots), which sockets use to encode a name.
_LABEL_SEPARATOR = re.compile("[.\u3002\uff0e\uff61]")
_LDH = re.compile(r"[A-Za-z0-9_-]+")  # letters, digits, hyphen; '_' as many networks use it
_LABEL_MAX = 63  # RFC 1035 §2.3.4
_NAME_MAX = 253  # RFC 1035 §2.3.4: 255 octets on the wire, less the length bytes
_SERIAL_OPTIONS = ("baudrate", "parity", "stopbits", "bytesize")
_EXPECTED = (
    "expected modbus-tcp://host[:port], rtu-over-tcp://host:port "
    "or modbus-rtu:///dev/<port>[?baudrate=&parity=&stopbits=&bytesize=]"
)


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
        if not url.strip():
            raise ValueError(f"link URL is empty; {_EXPECTED}")
        control = control_character(url.strip())
        if control is not None:
            # urlsplit would silently drop a tab or newline, and keep a NUL for the
            # resolver to choke on (issue #17).
            raise ValueError(f"{url!r}: a URL must not hold control characters (found {control!r})")
        try:
            parts = urlsplit(url.strip())
        except ValueError as exc:  # a bracketed host that is no IPv6 address
            raise ValueError(f"{url!r}: {exc}; {_EXPECTED}") from None
        if not parts.scheme:
            raise ValueError(f"{url!r}: missing scheme; {_EXPECTED}")
        try:
            scheme = Scheme(parts.scheme.lower())
        except ValueError:
            raise ValueError(
                f"{url!r}: unknown link scheme {parts.scheme!r}; {_EXPECTED}"
            ) from None
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


def control_character(text: str) -> str | None:
    """The first control character in `text` (C0, DEL, C1 and the like), or None."""
    return next((char for char in text if not char.isprintable() and char != " "), None)


def host_problem(host: str) -> str | None:
    """What makes `host` unusable by a socket, as a phrase ("has an empty label ..."), or
    None for an IP address or a host name the resolver can take.

    Sockets encode a name with the idna codec before resolving it: a name it cannot encode
    raises UnicodeError there, which no caller expects (issue #17).
    """
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if any(char.isspace() or not char.isprintable() for char in host):
        return "holds a space or a control character"
    labels = _LABEL_SEPARATOR.split(host.removesuffix("."))  # one trailing dot: a full name
    if "" in labels:
        return "has an empty label: two dots in a row, or a dot at the start"
    encoded = []
    for label in labels:
        try:
            ascii_label = label if label.isascii() else label.encode("idna").decode("ascii")
        except UnicodeError as exc:
            return f"has a label IDNA cannot encode, {label!r} ({exc})"
        if len(ascii_label) > _LABEL_MAX:
            return f"has a label longer than {_LABEL_MAX} characters"
        if not _LDH.fullmatch(ascii_label):
            bad = next(char for char in ascii_label if not _LDH.fullmatch(char))
            return (f"holds {bad!r}; a host name holds letters, digits, '-' and '_' between "
                    "its dots, or is an IP address")
        encoded.append(ascii_label)
    if len(".".join(encoded)) > _NAME_MAX:
        return f"is longer than {_NAME_MAX} characters"
    return None


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
