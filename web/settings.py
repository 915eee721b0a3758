"""Where the web page listens and keeps its files, checked when the settings are made."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from web.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language

DEFAULT_SESSION_MAX_AGE_S = 8 * 3600  # one shift


class InsecureListen(ValueError):
    """The settings would send passwords and session cookies over the network in clear."""


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """The web page's settings; building them refuses a plain-HTTP listener beyond loopback.

    `folder` holds users.json and session.key. `allow_plain_http` permits a non-loopback
    address without TLS, for a TLS-terminating reverse proxy in front. `metrics_open`
    serves /metrics without a login (for a scraper), else engineers and admins only.
    `language` is the page's language for users who chose none, and the login page's.
    """

    folder: Path
    host: str = "127.0.0.1"
    port: int = 8080
    session_max_age_s: int = DEFAULT_SESSION_MAX_AGE_S
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_plain_http: bool = False
    metrics_open: bool = False
    language: Language = DEFAULT_LANGUAGE

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"web port must be 0 to 65535 (got {self.port})")
        if self.session_max_age_s <= 0:
            raise ValueError(f"session_max_age_s must be positive (got {self.session_max_age_s})")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)} "
                             f"(got {self.language!r})")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("web TLS needs both tls_cert and tls_key")
        if not self.tls and not self.allow_plain_http and not _is_loopback(self.host):
            raise InsecureListen(
                f"refusing to serve the web page on {self.host!r} without TLS: passwords and "
                "session cookies would cross the plant network in clear. Set tls_cert and "
                "tls_key, or allow_plain_http = true if a TLS proxy on this host fronts it")

    @property
    def tls(self) -> bool:
        """True when the page is served over TLS."""
        return self.tls_cert is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server TLS context with the configured certificate, or None without TLS;
        blocking (reads the files)."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name: it may resolve to anything
        return False
