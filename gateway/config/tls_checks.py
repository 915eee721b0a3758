"""Checks shared by the sections that take TLS files ([mqtt], [web])."""

from __future__ import annotations

from pathlib import Path

from gateway.config.problem import Finding, Loc


def missing_files(at: Loc, files: dict[str, Path | None]) -> list[Finding]:
    """A finding at each key whose file is given but not there."""
    return [
        Finding((*at, key), f"cannot read {path}: no such file")
        for key, path in files.items()
        if path is not None and not path.is_file()
    ]


def unpaired(
    at: Loc, cert: tuple[str, Path | None], key: tuple[str, Path | None], what: str
) -> list[Finding]:
    """A finding when only one of a certificate and its private key is given."""
    (cert_key, cert_path), (key_key, key_path) = cert, key
    if (cert_path is None) == (key_path is None):
        return []
    given, missing = (cert_key, key_key) if key_path is None else (key_key, cert_key)
    return [Finding((*at, given), f"needs {missing} too: {what} comes with its private key")]
