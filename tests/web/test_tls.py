"""The web page over TLS: certificate served, Secure __Host- cookie, HSTS."""

from __future__ import annotations

import ssl

from tests.web.conftest import Account, Certificate, StartWeb, set_cookies
from web.users import Role


async def test_tls_login_sets_a_secure_host_cookie_and_hsts(
    start_web: StartWeb,
    accounts: dict[Role, Account],
    certificate: Certificate,
) -> None:
    trust = ssl.create_default_context(cafile=str(certificate.cert))  # only this one
    served = await start_web(tls_cert=certificate.cert, tls_key=certificate.key,
                             client_ssl=trust)
    assert served.base_url.startswith("https://127.0.0.1:")
    viewer = accounts[Role.VIEWER]
    response = await served.post_login(viewer.name, viewer.password)
    assert response.status == 303
    cookie = set_cookies(response)["__Host-uvelka_session"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["domain"]  # the __Host- prefix forbids one
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    async with served.client.get(served.url("/api/me")) as me:
        assert me.status == 200
        assert (await me.json())["name"] == viewer.name
        assert me.headers["Strict-Transport-Security"] == "max-age=31536000"

