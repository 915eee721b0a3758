"""Checks of [mqtt] across its keys: TLS files only with mqtts and present, a key with its
certificate, a password with its user name."""

from __future__ import annotations

from gateway.config.model import MqttSection
from gateway.config.problem import Finding
from gateway.config.tls_checks import missing_files, unpaired

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
        files = {"ca_file": mqtt.ca_file, "cert_file": mqtt.cert_file, "key_file": mqtt.key_file}
        findings += missing_files(_AT, files)
    findings += unpaired(_AT, ("cert_file", mqtt.cert_file), ("key_file", mqtt.key_file),
                         "a client certificate")
    if mqtt.password is not None and mqtt.username is None:
        findings.append(Finding((*_AT, "password"), "needs a username too"))
    return findings
