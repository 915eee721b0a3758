"""A liveness probe for container healthchecks: does the OPC UA endpoint accept TCP?"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def endpoint_accepts(endpoint: str, timeout_s: float = 3.0) -> bool:
    """True when a TCP connection to the endpoint's port succeeds (wildcard host = loopback)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a listening wildcard is reached on loopback
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port or 4840), timeout=timeout_s):
            return True
    except OSError:
        return False
