"""The OPC UA certificates as the page's admins see and change them (issue #14).

What the page shows: the gateway's application certificate and the one it last replaced
(with when), the client certificates the server refused (`pki/trusted/rejected/`, each
written when first refused) with Trust and Delete, and the trusted ones
(`pki/trusted/certs/`) with Remove, which moves one back to rejected/ as `uvelka pki
reject` does. The changes are gateway.opcua.pki's `trust` and `untrust`, the command
line's too; the running server's trust list reads its folders again at the next client
that creates a session, so they take effect without a restart.

Certificates are named by their thumbprint (SHA-1 of the DER, as OPC UA names them), not
by file name: a file's name is whatever an admin copied in. The file work runs in a
thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.opcua.pki import (
    CertificateFile,
    PkiFolders,
    certificate_files,
    find_file,
    trust,
    untrust,
)
from web.facade import Json, NotFound


class PkiDesk:
    """The certificates of one PKI root (`<data_dir>/pki`)."""

    def __init__(self, folders: PkiFolders) -> None:
        self._folders = folders

    async def view(self) -> Json:
        """The own certificate, the one it replaced, the rejected and the trusted ones."""
        return await asyncio.to_thread(self._view)

    async def trust(self, thumbprint: str) -> CertificateFile:
        """Trust the rejected certificate `thumbprint`; what is trusted now."""

        def trusted() -> CertificateFile:
            _, target = trust(self._folders, self._find(self._folders.rejected, thumbprint))
            return CertificateFile.read(target)

        return await asyncio.to_thread(trusted)

    async def delete(self, thumbprint: str) -> CertificateFile:
        """Delete the rejected certificate `thumbprint`; what was deleted."""

        def deleted() -> CertificateFile:
            found = CertificateFile.read(self._find(self._folders.rejected, thumbprint))
            found.path.unlink()
            return found

        return await asyncio.to_thread(deleted)

    async def untrust(self, thumbprint: str) -> CertificateFile:
        """Stop trusting the certificate `thumbprint`; it is in rejected/ now."""

        def untrusted() -> CertificateFile:
            return CertificateFile.read(
                untrust(self._folders, self._find(self._folders.certs, thumbprint)))

        return await asyncio.to_thread(untrusted)

    def _find(self, folder: Path, thumbprint: str) -> Path:
        self._folders.make()
        found = find_file(folder, thumbprint)
        if found is None:
            raise NotFound(f"no certificate with thumbprint {thumbprint} in {folder.name}/")
        return found

    def _view(self) -> Json:
        folders = self._folders
        folders.make()
        own = None
        if folders.own_cert.is_file():
            own = _described(CertificateFile.read(folders.own_cert))
        replaced, problems = certificate_files(folders.replaced)
        rejected, rejected_problems = certificate_files(folders.rejected)
        trusted, trusted_problems = certificate_files(folders.certs)
        return {
            "own": own,
            # The newest of own/replaced/: its file's time is when it was replaced.
            "previous": _described(replaced[-1]) if replaced else None,
            "rejected": [_described(found) for found in rejected],
            "trusted": [_described(found) for found in trusted],
            "problems": problems + rejected_problems + trusted_problems,
        }


def _described(found: CertificateFile) -> dict[str, Any]:
    return {
        "file": found.path.name,
        "subject": found.subject,
        "thumbprint": found.thumbprint,
        "application_uri": found.application_uri,
        "not_before": found.not_before.isoformat(),
        "not_after": found.not_after.isoformat(),
        "changed": found.changed.isoformat(),
    }


def described(found: CertificateFile) -> str:
    """A certificate in one line of the audit log."""
    uri = f", {found.application_uri}" if found.application_uri else ""
    return f"{found.subject} (thumbprint {found.thumbprint}{uri})"
