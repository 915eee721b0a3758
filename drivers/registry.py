"""Which driver serves a device: chosen from its URL's scheme, in an explicit list.

Nothing registers itself at import time: a protocol is served when its package's DRIVER
is named here, one line per protocol (drivers/README.md). The gateway's configuration
checks and its poll loops both ask this registry, so what the check accepts is what runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from drivers import modbus
from drivers.base import Driver
from drivers.link import expected_forms, split_url, unknown_scheme


class Registry:
    """Drivers by the URL schemes they serve."""

    def __init__(self, *drivers: Driver) -> None:
        by_scheme: dict[str, Driver] = {}
        for driver in drivers:
            for scheme in driver.schemes:
                if scheme in by_scheme:
                    raise ValueError(f"two drivers serve the URL scheme {scheme!r}")
                by_scheme[scheme] = driver
        self.by_scheme: Mapping[str, Driver] = MappingProxyType(by_scheme)
        self._expected = expected_forms([form for driver in drivers for form in driver.url_forms])

    def driver_for(self, url: str) -> Driver:
        """The driver of a device URL; ValueError when the URL has no scheme a driver serves.

        Only the scheme is read here: the rest of the URL is the driver's to judge (its
        `link`), so that a device whose URL is wrong in its host still gets its driver and
        reports the error from its poll loop like any other link failure (issue #17).
        """
        head, colon, _ = url.strip().partition(":")
        driver = self.by_scheme.get(head.lower()) if colon else None
        if driver is None:
            raise unknown_scheme(url, split_url(url, self._expected).scheme, self._expected)
        return driver


DRIVERS = Registry(
    modbus.DRIVER,
)
