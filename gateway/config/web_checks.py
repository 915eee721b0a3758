"""Checks of [web] across its keys: a certificate with its key, files that are there, and
no plain HTTP beyond loopback unless asked for (the web page's own rule, web.settings)."""

from __future__ import annotations

from pathlib import Path

from gateway.config.model import WebSection
from gateway.config.problem import Finding
from gateway.config.tls_checks import missing_files, unpaired
from web.i18n import DEFAULT_LANGUAGE, Language
from web.settings import InsecureListen, WebSettings

_AT = ("web",)


def check_web(section: WebSection) -> list[Finding]:
    cert, key = ("tls_cert", section.tls_cert), ("tls_key", section.tls_key)
    findings = unpaired(_AT, cert, key, "a certificate")
    findings += missing_files(_AT, dict([cert, key]))
    try:
        web_settings(section, Path())
    except InsecureListen as exc:
        findings.append(Finding((*_AT, "host"), str(exc)))
    return findings


def web_settings(
    section: WebSection, folder: Path, language: Language = DEFAULT_LANGUAGE,
) -> WebSettings:
    """The web page's settings, `language` its default ([gateway] language); InsecureListen
    for plain HTTP beyond loopback."""
    tls = section.tls_cert is not None and section.tls_key is not None
    return WebSettings(
        folder=folder,
        host=section.host,
        port=section.port,
        session_max_age_s=section.session_max_age,
        tls_cert=section.tls_cert if tls else None,
        tls_key=section.tls_key if tls else None,
        allow_plain_http=section.allow_plain_http,
        metrics_open=section.metrics_open,
        language=language,
    )
