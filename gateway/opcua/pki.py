"""The OPC UA server's certificates under `<data_dir>/pki` (issue #14, Part 12 §F.1's
folder layout):

    own/cert.der              the application instance certificate (made at first start)
    own/private/key.pem       its RSA key, readable by the gateway's user only
    own/replaced/             certificates that were replaced, kept for the record
    trusted/certs/            client certificates (or CAs) trusted: DER or PEM
    trusted/issuers/          CA certificates that complete a chain, not trusted alone
    trusted/crl/              revocation lists of the trusted CAs
    trusted/rejected/         client certificates refused, for an admin to trust or delete

The own certificate is RSA 2048 with SHA-256, valid `VALID_DAYS`, its subjectAltName the
ApplicationUri and the host names. It is made again when it expires within the renewal
window ([opcua] certificate_renew_days: at a start, and by the running server's daily
check) or no longer names the ApplicationUri: never silently, since every client that
trusted the old one must trust the new one (a WARNING with both thumbprints, the old one
kept in own/replaced/ with the time it was replaced as its modification time, and
`OwnCertificate.replaced` for the page and the audit log).

The trust list is read again when one of its folders changed, at the next client that
creates a session: trusting a certificate (`uvelka pki trust`, the page) takes effect
without a restart. `trust` and `reject` are what both do. Blocking file I/O: callers run
these functions in a thread.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from web.private_files import write_private

logger = logging.getLogger(__name__)

KEY_BITS = 2048
VALID_DAYS = 5 * 365
RENEW_DAYS = 30  # the default of [opcua] certificate_renew_days
CERT_SUFFIXES = (".der", ".pem", ".crt", ".cer")


@dataclass(frozen=True, slots=True)
class PkiFolders:
    """The folders of one PKI root (`<data_dir>/pki`)."""

    root: Path

    @property
    def own_cert(self) -> Path:
        return self.root / "own" / "cert.der"

    @property
    def own_key(self) -> Path:
        return self.root / "own" / "private" / "key.pem"

    @property
    def replaced(self) -> Path:
        return self.root / "own" / "replaced"

    @property
    def certs(self) -> Path:
        return self.root / "trusted" / "certs"

    @property
    def issuers(self) -> Path:
        return self.root / "trusted" / "issuers"

    @property
    def crl(self) -> Path:
        return self.root / "trusted" / "crl"

    @property
    def rejected(self) -> Path:
        return self.root / "trusted" / "rejected"

    def make(self) -> None:
        for folder in (self.certs, self.issuers, self.crl, self.rejected, self.own_key.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.own_key.parent.chmod(0o700)


@dataclass(frozen=True, slots=True)
class OwnCertificate:
    """The server's certificate as the start found or made it."""

    cert: Path
    key: Path
    thumbprint: str
    not_after: datetime
    replaced: str | None  # why a certificate was replaced at this start, or None


def thumbprint(certificate: x509.Certificate) -> str:
    """SHA-1 of the DER, as OPC UA names certificates (Part 4 §7.33)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


def read_certificate(path: Path) -> x509.Certificate:
    """A DER or PEM certificate file; ValueError if it is neither."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def own_certificate(
    folders: PkiFolders,
    application_uri: str,
    hosts: list[str],
    now: datetime,
    renew_days: int = RENEW_DAYS,
) -> OwnCertificate:
    """The server's certificate and key, made when missing, expiring within `renew_days`
    of `now` or for another URI. A certificate made is valid from the wall clock's now
    (`now` only judges the current one's expiry: tests pass a later time)."""
    folders.make()
    if folders.own_cert.is_file() and folders.own_key.is_file():
        renewed = renew_if_due(folders, application_uri, hosts, now, renew_days)
        return renewed or _own(folders, read_certificate(folders.own_cert), None)
    certificate = _make(folders, application_uri, hosts, datetime.now(UTC))
    logger.info(
        "OPC UA application certificate made: %s (thumbprint %s, valid to %s)",
        folders.own_cert,
        thumbprint(certificate),
        certificate.not_valid_after_utc,
    )
    return _own(folders, certificate, None)


def renew_if_due(
    folders: PkiFolders,
    application_uri: str,
    hosts: list[str],
    now: datetime,
    renew_days: int = RENEW_DAYS,
) -> OwnCertificate | None:
    """A new certificate and key in place of the current ones if these expire within
    `renew_days` of `now` or no longer name `application_uri`; None if they are kept.
    The new one is valid from the wall clock's now."""
    current = read_certificate(folders.own_cert)
    reason = _renewal_reason(current, application_uri, now, renew_days)
    if reason is None:
        return None
    old = thumbprint(current)
    folders.replaced.mkdir(exist_ok=True)
    certificate = _make(folders, application_uri, hosts, datetime.now(UTC),
                        folders.replaced / f"{old}.der")
    replaced = (
        f"the OPC UA certificate was replaced ({reason}): thumbprint {old} -> "
        f"{thumbprint(certificate)}; every client that trusted the old one must "
        "trust the new one"
    )
    logger.warning("%s", replaced)
    return _own(folders, certificate, replaced)


def _own(
    folders: PkiFolders, certificate: x509.Certificate, replaced: str | None
) -> OwnCertificate:
    return OwnCertificate(
        folders.own_cert,
        folders.own_key,
        thumbprint(certificate),
        certificate.not_valid_after_utc,
        replaced,
    )


def _renewal_reason(
    certificate: x509.Certificate, application_uri: str, now: datetime, renew_days: int
) -> str | None:
    if certificate.not_valid_after_utc - now < timedelta(days=renew_days):
        return f"it expires {certificate.not_valid_after_utc:%Y-%m-%d}"
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return "it has no subjectAltName"
    if application_uri not in names.value.get_values_for_type(x509.UniformResourceIdentifier):
        return f"it does not name {application_uri}"
    return None


def _make(
    folders: PkiFolders,
    application_uri: str,
    hosts: list[str],
    now: datetime,
    keep_old_as: Path | None = None,
) -> x509.Certificate:
    """A new certificate and key in own/, the current certificate moved to `keep_old_as`.

    Both are written beside their places first: a full disk or a failed write raises
    OSError and leaves the current ones as they were (issue #17). Only renames follow.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, application_uri.removeprefix("urn:")[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Uvelka"),
        ]
    )
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    for host in dict.fromkeys(hosts):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a client's clock a little behind
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    new_key = folders.own_key.with_name(folders.own_key.name + ".new")
    new_cert = folders.own_cert.with_name(folders.own_cert.name + ".new")
    try:
        write_private(
            new_key,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        write_private(new_cert, certificate.public_bytes(serialization.Encoding.DER))
    except OSError:
        new_key.unlink(missing_ok=True)
        new_cert.unlink(missing_ok=True)
        raise
    if keep_old_as is not None:
        os.replace(folders.own_cert, keep_old_as)
        os.utime(keep_old_as)  # when it was replaced, for the page
    os.replace(new_key, folders.own_key)
    os.replace(new_cert, folders.own_cert)
    return certificate


@dataclass(frozen=True, slots=True)
class CertificateFile:
    """A certificate file of the PKI folders, as the page and `uvelka pki` show it."""

    path: Path
    subject: str
    thumbprint: str
    application_uri: str | None  # the subjectAltName URI: the client's ApplicationUri
    not_before: datetime
    not_after: datetime
    # The file's modification time: when a client's certificate was first refused (a
    # rejected one is written once), trusted, or an own certificate replaced.
    changed: datetime

    @classmethod
    def read(cls, path: Path) -> CertificateFile:
        """The certificate in `path`; ValueError if it holds none."""
        certificate = read_certificate(path)
        try:
            names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            uris = []
        return cls(
            path,
            certificate.subject.rfc4514_string(),
            thumbprint(certificate),
            uris[0] if uris else None,
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
            datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )


def certificate_files(folder: Path) -> tuple[list[CertificateFile], list[str]]:
    """The certificates of `folder`, oldest change first, and one line per file that
    holds none."""
    found, problems = [], []
    for path in _files(folder):
        if path.suffix.lower() not in CERT_SUFFIXES:
            continue
        try:
            found.append(CertificateFile.read(path))
        except ValueError as exc:
            problems.append(f"{path.name}: not a certificate ({exc})")
    return sorted(found, key=lambda file: file.changed), problems


def find_file(folder: Path, file: str) -> Path | None:
    """`file` as a name in `folder`, or the thumbprint of one of its certificates."""
    named = folder / file
    if named.is_file() and named.parent == folder:
        return named
    matches = [path for path in _files(folder) if f"[{file}]" in path.name]
    if not matches:
        files, _ = certificate_files(folder)
        matches = [found.path for found in files if found.thumbprint == file.lower()]
    return matches[0] if len(matches) == 1 else None


def trust(folders: PkiFolders, source: Path) -> tuple[x509.Certificate, Path]:
    """Trust the certificate in `source` (a file of rejected/, which is then deleted, or
    any file): copied as DER to trusted/certs/, named by its thumbprint."""
    certificate = read_certificate(source)
    target = folders.certs / rejected_name(certificate)
    target.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    if source.parent == folders.rejected:
        source.unlink()
    return certificate, target


def untrust(folders: PkiFolders, trusted: Path) -> Path:
    """Stop trusting the certificate file `trusted` of trusted/certs/: it moves to
    rejected/, where it can be trusted again or deleted."""
    target = folders.rejected / rejected_name(read_certificate(trusted))
    os.replace(trusted, target)
    return target


class Untrusted(Exception):
    """A client certificate the trust list does not accept; the message says why."""

    def __init__(self, message: str, *, revoked: bool = False, expired: bool = False) -> None:
        super().__init__(message)
        self.revoked = revoked
        self.expired = expired


class TrustList:
    """The trusted certificates, issuers and CRLs, read again when their folders change."""

    def __init__(self, folders: PkiFolders) -> None:
        self._folders = folders
        self._seen: tuple[int, ...] | None = None
        self._trusted: list[x509.Certificate] = []
        self._trusted_der: set[bytes] = set()
        self._issuers: list[x509.Certificate] = []
        self._revoked: set[tuple[bytes, int]] = set()

    def check(self, certificate: x509.Certificate, now: datetime) -> None:
        """Return if `certificate` is trusted; raise Untrusted, after keeping an unknown
        certificate in trusted/rejected/."""
        self._reload_if_changed()
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise Untrusted(f"{_label(certificate)} is not valid now", expired=True)
        if (certificate.issuer.public_bytes(), certificate.serial_number) in self._revoked:
            raise Untrusted(f"{_label(certificate)} is revoked", revoked=True)
        der = certificate.public_bytes(serialization.Encoding.DER)
        if der in self._trusted_der or self._chains(certificate, now):
            return
        path = self._folders.rejected / rejected_name(certificate)
        if not path.exists():
            path.write_bytes(der)
            logger.warning(
                "OPC UA client certificate %s refused: not trusted; kept as %s "
                "(uvelka pki trust %s)",
                _label(certificate),
                path,
                path.name,
            )
        raise Untrusted(f"{_label(certificate)} is not trusted")

    def _chains(self, certificate: x509.Certificate, now: datetime) -> bool:
        anchors = [cert for cert in self._trusted if _is_ca(cert)]
        if not anchors:
            return False
        verifier = (
            x509.verification.PolicyBuilder()
            .store(x509.verification.Store(anchors))
            .time(now)
            .build_client_verifier()
        )
        try:
            chain = verifier.verify(certificate, self._issuers).chain
        except x509.verification.VerificationError:
            return False
        return not any(
            (cert.issuer.public_bytes(), cert.serial_number) in self._revoked for cert in chain
        )

    def _reload_if_changed(self) -> None:
        folders = (self._folders.certs, self._folders.issuers, self._folders.crl)
        seen = tuple(_mtime(folder) for folder in folders)
        if seen == self._seen:
            return
        self._seen = seen
        self._trusted = _certificates(self._folders.certs)
        self._trusted_der = {
            cert.public_bytes(serialization.Encoding.DER) for cert in self._trusted
        }
        self._issuers = _certificates(self._folders.issuers)
        self._revoked = set()
        for path in _files(self._folders.crl):
            try:
                data = path.read_bytes()
                crl = (
                    x509.load_pem_x509_crl(data)
                    if data.lstrip().startswith(b"-----BEGIN")
                    else x509.load_der_x509_crl(data)
                )
            except ValueError as exc:
                logger.warning("OPC UA trust list: %s is not a CRL (%s): ignored", path, exc)
                continue
            issuer = crl.issuer.public_bytes()
            self._revoked.update((issuer, entry.serial_number) for entry in crl)
        logger.info(
            "OPC UA trust list read: %d trusted, %d issuers, %d revoked",
            len(self._trusted),
            len(self._issuers),
            len(self._revoked),
        )


def rejected_name(certificate: x509.Certificate) -> str:
    """`<common name> [<thumbprint>].der`, as UA SDKs name rejected certificates."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = str(names[0].value) if names else "certificate"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", common)[:64] or "certificate"
    return f"{safe} [{thumbprint(certificate)}].der"


def _label(certificate: x509.Certificate) -> str:
    return f"{certificate.subject.rfc4514_string()!r} (thumbprint {thumbprint(certificate)})"


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _mtime(folder: Path) -> int:
    try:
        return folder.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in CERT_SUFFIXES + (".crl",)
    )


def _certificates(folder: Path) -> list[x509.Certificate]:
    found = []
    for path in _files(folder):
        try:
            found.append(read_certificate(path))
        except ValueError as exc:
            logger.warning("OPC UA trust list: %s is not a certificate (%s): ignored", path, exc)
    return found
