"""The `[export.clickhouse]` table: the plant's history in ClickHouse (issue #16)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from drivers.link import control_character, host_problem
from gateway.config.frozen import FilePath, Frozen
from gateway.config.problem import Finding
from gateway.config.secret import read_secret
from gateway.config.tls_checks import missing_files

PASSWORD_ENV = "UVELKA_CLICKHOUSE_PASSWORD"  # noqa: S105 - the variable's name
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_HTTP_PORTS = {"http": 8123, "https": 8443}


def _identifier(value: str) -> str:
    # Database and table names go into SQL unquoted by the operator's own queries: plain.
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError("must start with a letter or '_' and hold only letters, digits "
                         "and '_', at most 64 characters")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]


class ClickhouseSection(Frozen):
    """`[export.clickhouse]`: samples and scores to a ClickHouse table, in batches, through
    a durable outbox."""

    url: str = "http://127.0.0.1:8123"  # the HTTP interface; https:// for TLS
    database: Identifier = "uvelka"
    table: Identifier = "samples"
    username: str = "default"
    # The password: this file's first line, else the UVELKA_CLICKHOUSE_PASSWORD variable,
    # else none.
    password_file: FilePath | None = None
    ca_file: FilePath | None = None  # https: None trusts the system's CAs
    verify: bool = True  # https: check the server's certificate and name
    batch_rows: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_delay: Annotated[float, Field(gt=0.0, le=3600.0)] = 5.0  # seconds a row may wait
    timeout: Annotated[float, Field(gt=0.0, le=600.0)] = 30.0  # one insert
    # The outbox's bound: stored messages (one per store, at most batch_rows rows each),
    # and their age. Beyond either the oldest go first, counted.
    outbox_max_messages: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000
    outbox_max_age: Annotated[float, Field(gt=0.0)] = 7 * 86400.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        control = control_character(value)
        if control is not None:
            raise ValueError(f"must not hold control characters (found {control!r})")
        parts = urlsplit(value)
        if parts.scheme not in _HTTP_PORTS or not parts.hostname:
            raise ValueError("must be http://host[:port] or https://host[:port] "
                             "(ClickHouse's HTTP interface)")
        problem = host_problem(parts.hostname)
        if problem is not None:
            raise ValueError(f"host {parts.hostname!r} {problem}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise ValueError("port must be a number from 1 to 65535")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError("must be http(s)://host[:port], nothing after; the user name "
                             "goes in `username`")
        return value

    def password(self) -> str | None:
        """The password from `password_file`, else from the environment; OSError if the file
        cannot be read (blocking: call at start)."""
        return read_secret(self.password_file, PASSWORD_ENV)


class ExportSection(Frozen):
    """`[export]`: where the gateway's history is copied to."""

    clickhouse: ClickhouseSection | None = None


def check_export(export: ExportSection) -> list[Finding]:
    """The files [export.clickhouse] names are there (the password is read at start)."""
    if export.clickhouse is None:
        return []
    return missing_files(("export", "clickhouse"),
                         {"password_file": export.clickhouse.password_file,
                          "ca_file": export.clickhouse.ca_file})
