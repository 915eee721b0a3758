"""`uvelka pki list|trust FILE|reject FILE`: the OPC UA server's trust list from the
command line (issue #14). A running gateway takes a change at the next client that
creates a session (gateway.opcua.pki): no restart."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.config import load_config
from gateway.opcua.pki import (
    PkiFolders,
    find_file,
    read_certificate,
    thumbprint,
    trust,
    untrust,
)


def add_pki_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pki = commands.add_parser(
        "pki", help="the OPC UA certificates: list them, trust or reject a client's"
    )
    pki.add_argument("-c", "--config", type=Path, required=True, help="the gateway TOML file")
    actions = pki.add_subparsers(dest="pki_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="the server's certificate, the trusted and the rejected")
    trust = actions.add_parser(
        "trust", help="trust a client certificate: a file of trusted/rejected/ or any path"
    )
    trust.add_argument("file")
    reject = actions.add_parser(
        "reject", help="stop trusting a certificate of trusted/certs/, or delete a rejected one"
    )
    reject.add_argument("file")
    pki.set_defaults(handler=run_pki)


def run_pki(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # a ConfigError is uvelka's to print (exit 2)
    folders = PkiFolders(config.gateway.data_dir / "pki")
    folders.make()
    try:
        if args.pki_command == "list":
            for line in _listing(folders):
                print(line)
        elif args.pki_command == "trust":
            print(_trust(folders, args.file))
        else:
            print(_reject(folders, args.file))
    except (OSError, ValueError) as exc:
        print(f"uvelka pki: {exc}")
        return 1
    return 0


def _listing(folders: PkiFolders) -> list[str]:
    lines = []
    if folders.own_cert.is_file():
        lines.append("own:")
        lines.append(_describe(folders.own_cert))
    for title, folder in (
        ("trusted", folders.certs),
        ("issuers", folders.issuers),
        ("rejected", folders.rejected),
    ):
        files = sorted(path for path in folder.iterdir() if path.is_file())
        lines.append(f"{title} ({folder}): {len(files)}")
        lines += [_describe(path) for path in files]
    crls = sorted(path.name for path in folders.crl.iterdir() if path.is_file())
    lines.append(f"crl ({folders.crl}): {len(crls)}" + (": " + ", ".join(crls) if crls else ""))
    return lines


def _describe(path: Path) -> str:
    try:
        cert = read_certificate(path)
    except ValueError:
        return f"  {path.name}: not a certificate"
    return (
        f"  {path.name}: {cert.subject.rfc4514_string()}, thumbprint {thumbprint(cert)}, "
        f"valid to {cert.not_valid_after_utc:%Y-%m-%d}"
    )


def _trust(folders: PkiFolders, file: str) -> str:
    rejected = find_file(folders.rejected, file)
    source = rejected or Path(file)
    if not source.is_file():
        raise ValueError(f"{file}: neither a file of {folders.rejected} nor a certificate file")
    cert, target = trust(folders, source)
    return f"trusted {cert.subject.rfc4514_string()} (thumbprint {thumbprint(cert)}): {target}"


def _reject(folders: PkiFolders, file: str) -> str:
    trusted = find_file(folders.certs, file)
    if trusted is not None:
        target = untrust(folders, trusted)
        return f"no longer trusted: {trusted.name}, kept as {target}"
    rejected = find_file(folders.rejected, file)
    if rejected is not None:
        rejected.unlink()
        return f"deleted {rejected}"
    raise ValueError(f"{file}: not a file of {folders.certs} or {folders.rejected}")
