"""What every driver checks the same way in a device URL, with no I/O: the URL as a whole
(empty, control characters, scheme) and host names as sockets will use them.

Protocol-neutral on purpose: a second protocol's link settings and the gateway's other
hosts (MQTT broker, OPC UA endpoint, web page) are checked by the same rules (issue #17).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit

# The separators of the idna codec (encodings.idna.dots), which sockets use to encode a name.
_LABEL_SEPARATOR = re.compile("[.\u3002\uff0e\uff61]")
_LDH = re.compile(r"[A-Za-z0-9_-]+")  # letters, digits, hyphen; '_' as many networks use it
_LABEL_MAX = 63  # RFC 1035 §2.3.4
_NAME_MAX = 253  # RFC 1035 §2.3.4: 255 octets on the wire, less the length bytes


def expected_forms(forms: Sequence[str]) -> str:
    """"expected a, b or c": the tail of every message about a URL's form."""
    if len(forms) == 1:
        return f"expected {forms[0]}"
    return f"expected {', '.join(forms[:-1])} or {forms[-1]}"


def split_url(url: str, expected: str) -> SplitResult:
    """`url` split into its parts, with a scheme; ValueError (ending in `expected`) for an
    empty URL, a control character, a bracketed host that is no IPv6 address, no scheme."""
    if not url.strip():
        raise ValueError(f"link URL is empty; {expected}")
    control = control_character(url.strip())
    if control is not None:
        # urlsplit would silently drop a tab or newline, and keep a NUL for the
        # resolver to choke on (issue #17).
        raise ValueError(f"{url!r}: a URL must not hold control characters (found {control!r})")
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # a bracketed host that is no IPv6 address
        raise ValueError(f"{url!r}: {exc}; {expected}") from None
    if not parts.scheme:
        raise ValueError(f"{url!r}: missing scheme; {expected}")
    return parts


def unknown_scheme(url: str, scheme: str, expected: str) -> ValueError:
    """The error for a URL whose scheme no driver serves."""
    return ValueError(f"{url!r}: unknown link scheme {scheme!r}; {expected}")


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
