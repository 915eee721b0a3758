"""Checks of [mqtt] across its keys: TLS files only with mqtts and present, a key with its
certificate, a password with its user name."""

from __future__ import annotations

from gateway.config.model import MqttSection
from gateway.config.problem import Finding

_AT = ("mqtt",)


def check_mqtt(mqtt: MqttSection) -> list[Finding]:
    findings = []
    if not mqtt.tls:
        findings += [
            Finding((*_AT, key), "is for TLS: use an mqtts:// url, or remove it")
            for key in ("ca_file", "cert_file", "key_file")
            if getattr(mqtt, key) is not None
        ]
    else:
        findings += [
            Finding((*_AT, key), f"cannot read {path}: no such file")
            for key in ("ca_file", "cert_file", "key_file")
            if (path := getattr(mqtt, key)) is not None and not path.is_file()
        ]
    if (mqtt.cert_file is None) != (mqtt.key_file is None):
        given, missing = ("cert_file", "key_file") if mqtt.key_file is None else (
            "key_file", "cert_file")
        findings.append(Finding((*_AT, given), f"needs {missing} too: a client certificate "
                                "comes with its private key"))
    if mqtt.password is not None and mqtt.username is None:
        findings.append(Finding((*_AT, "password"), "needs a username too"))
    return findings
