"""What each [opcua] security setting means, in the words `uvelka check-config` prints
under a valid file (issue #14): an engineer choosing entries sees what a client must
support and what the wire shows."""

from __future__ import annotations

from gateway.config.model import NO_SECURITY, OpcuaSection

_POLICIES = {
    "Basic256Sha256": "RSA keys of 2048 to 4096 bits, SHA-256 signatures (RSA PKCS#1 v1.5), "
    "RSA-OAEP key exchange, AES-256-CBC; the one every client supports",
    "Aes128_Sha256_RsaOaep": "RSA keys of 2048 to 4096 bits, SHA-256 signatures (RSA PKCS#1 "
    "v1.5), RSA-OAEP key exchange, AES-128-CBC",
    "Aes256_Sha256_RsaPss": "RSA keys of 2048 to 4096 bits, SHA-256 signatures (RSA-PSS), "
    "RSA-OAEP-SHA256 key exchange, AES-256-CBC; the strongest",
}
_MODES = {
    "Sign": "messages signed (nothing can be changed unseen) but readable on the network",
    "SignAndEncrypt": "messages signed and encrypted",
}


def explain_security(section: OpcuaSection) -> list[str]:
    """One line per security entry, then one for `anonymous`."""
    lines = []
    for entry in section.security:
        if entry == NO_SECURITY:
            meaning = (
                "no signature, no encryption, no client certificate: anyone on the "
                "network can read and change the traffic; for a bench or a demo"
            )
        else:
            policy, _, mode = entry.partition(":")
            meaning = (
                f"{_MODES[mode]}; {_POLICIES[policy]}; the client's certificate must be "
                "trusted (data_dir/pki/trusted)"
            )
        lines.append(f"opcua.security {entry!r}: {meaning}")
    if section.anonymous:
        lines.append(
            "opcua.anonymous = true: a session without a user name may do what an "
            "engineer may (read, subscribe, acknowledge alarms, write tags); for a bench or "
            "a demo"
        )
    else:
        lines.append(
            "opcua.anonymous = false: every session logs in with a user of the web "
            "page's user store (uvelka users), with that user's role"
        )
    return lines
