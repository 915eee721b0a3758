"""WebSettings: loopback by default, TLS or an explicit opt-out beyond it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.web.conftest import Certificate
from web.settings import InsecureListen, WebSettings


def test_defaults_listen_on_loopback_without_tls(tmp_path: Path) -> None:
    settings = WebSettings(folder=tmp_path)
    assert settings.host == "127.0.0.1"
    assert not settings.tls
    assert settings.session_max_age_s == 8 * 3600
    assert settings.ssl_context() is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_is_fine_without_tls(tmp_path: Path, host: str) -> None:
    assert WebSettings(folder=tmp_path, host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.10.5", "gateway.plant.local", ""])
def test_wider_without_tls_is_refused_and_says_why(tmp_path: Path, host: str) -> None:
    with pytest.raises(InsecureListen, match="without TLS: passwords and session cookies"):
        WebSettings(folder=tmp_path, host=host)


def test_wider_with_an_explicit_opt_out(tmp_path: Path) -> None:
    settings = WebSettings(folder=tmp_path, host="0.0.0.0", allow_plain_http=True)
    assert not settings.tls


def test_wider_with_tls(tmp_path: Path, certificate: Certificate) -> None:
    settings = WebSettings(folder=tmp_path, host="0.0.0.0", tls_cert=certificate.cert,
                           tls_key=certificate.key)
    context = settings.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tls_cert": Path("cert.pem")}, "needs both tls_cert and tls_key"),
        ({"tls_key": Path("key.pem")}, "needs both tls_cert and tls_key"),
        ({"port": 70000}, "port must be 0 to 65535"),
        ({"session_max_age_s": 0}, "must be positive"),
    ],
)
def test_inconsistent_settings(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebSettings(folder=tmp_path, **fields)  # type: ignore[arg-type]
