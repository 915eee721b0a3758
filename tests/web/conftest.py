"""The web page served for real on 127.0.0.1 port 0 (serve_web), an aiohttp client with a
cookie jar, a fake facade (our own Protocol), a clock the tests advance, and a self-signed
certificate for TLS.

Users (one per role, random passwords) are made once per session by the real UserStore;
each test gets its own copy of that users file, and its own session key.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.web.fake_facade import FakeFacade
from web.app import create_app
from web.server import serve_web
from web.settings import WebSettings
from web.users import ADMIN_ENV_VAR, FILE_NAME, FIRST_ADMIN, Role, UserStore

WAIT_S = 10.0
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Account:
    name: str
    password: str = field(repr=False)
    role: Role


@dataclass(frozen=True)
class Certificate:
    """PEM files of a self-signed server certificate for 127.0.0.1; clients trust `cert`."""

    cert: Path
    key: Path


@dataclass
class FakeClock:
    """Wall and monotonic seconds that move only when told; wall starts at the real time
    because Fernet checks cookie timestamps against the real clock as well."""

    wall_s: float = field(default_factory=time.time)
    monotonic_s: float = 1000.0

    def wall(self) -> float:
        return self.wall_s

    def monotonic(self) -> float:
        return self.monotonic_s

    def advance(self, seconds: float) -> None:
        self.wall_s += seconds
        self.monotonic_s += seconds


@dataclass
class Web:
    """A served app and a client with its own cookie jar."""

    app: web.Application
    settings: WebSettings
    base_url: str
    client: aiohttp.ClientSession
    client_ssl: Any  # what the client's connector verifies TLS with

    def url(self, path: str) -> str:
        return self.base_url + path

    @contextlib.asynccontextmanager
    async def from_address(self, address: str) -> AsyncIterator[Web]:
        """The same server seen by a new client whose connections come from `address` (any
        127.x.y.z: Linux routes all of 127.0.0.0/8 to loopback), so the app sees another
        peer address, as it would another machine's."""
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=self.client_ssl, local_addr=(address, 0)),
        ) as client:
            yield dataclasses.replace(self, client=client)

    async def login_page_token(self) -> str:
        """GET /login and return the CSRF token of its form (an anonymous session)."""
        async with self.client.get(self.url("/login")) as response:
            assert response.status == 200
            return csrf_field(await response.text())

    async def post_login(self, name: str, password: str) -> aiohttp.ClientResponse:
        """POST the login form (with the form's token); the response is read and closed."""
        token = await self.login_page_token()
        data = {"name": name, "password": password, "csrf_token": token}
        async with self.client.post(self.url("/login"), data=data,
                                    allow_redirects=False) as response:
            await response.read()
            return response

    async def login(self, account: Account) -> str:
        """Log in and return the session's CSRF token."""
        response = await self.post_login(account.name, account.password)
        assert response.status == 303, response.status
        assert response.headers["Location"] == "/"
        return await self.csrf_token()

    async def csrf_token(self) -> str:
        async with self.client.get(self.url("/api/me")) as response:
            assert response.status == 200
            return (await response.json())["csrf_token"]

    def session_cookie(self) -> str:
        """The session cookie's value as the jar holds it."""
        values = [cookie.value for cookie in self.client.cookie_jar
                  if cookie.key.endswith("uvelka_session")]
        assert len(values) == 1, values
        return values[0]

    async def get_with_cookie(self, path: str, cookie: str) -> int:
        """GET `path` from a fresh client that sends only `cookie` as the session cookie."""
        name = "__Host-uvelka_session" if self.settings.tls else "uvelka_session"
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as other,
            other.get(self.url(path), headers={"Cookie": f"{name}={cookie}"},
                      allow_redirects=False, ssl=self.client_ssl) as response,
        ):
            return response.status


def csrf_field(page: str) -> str:
    match = _CSRF_FIELD.search(page)
    assert match is not None, page
    return match.group(1)


def set_cookies(response: aiohttp.ClientResponse) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookies.load(header)
    return cookies


@pytest.fixture(scope="session")
def accounts() -> dict[Role, Account]:
    """One account per role, the admin being the first-start one."""
    made = {role: Account(role.value, secrets.token_urlsafe(18), role) for role in Role}
    made[Role.ADMIN] = Account(FIRST_ADMIN, made[Role.ADMIN].password, Role.ADMIN)
    return made


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory, accounts: dict[Role, Account]) -> Path:
    """A users file holding `accounts`, written once by the real store (hashing is slow)."""
    folder = tmp_path_factory.mktemp("users")

    async def fill() -> None:
        admin = accounts[Role.ADMIN]
        store, _ = await UserStore.open(folder, environ={ADMIN_ENV_VAR: admin.password})
        for account in accounts.values():
            if account is not admin:
                await store.add(account.name, account.role, account.password)

    asyncio.run(fill())
    return folder / FILE_NAME


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """A fresh self-signed certificate for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "uvelka test gateway")])
    now = datetime.now(UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path / "tls"
    folder.mkdir()
    files = Certificate(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def web_folder(tmp_path: Path, users_file: Path) -> Path:
    folder = tmp_path / "web"
    folder.mkdir(mode=0o700)
    shutil.copy2(users_file, folder / FILE_NAME)
    return folder


StartWeb = Callable[..., Awaitable[Web]]


@pytest.fixture
async def start_web(web_folder: Path, clock: FakeClock) -> AsyncIterator[StartWeb]:
    """`await start_web(**settings)`: create_app + serve_web on 127.0.0.1:0 and a client.

    Keywords: `facade`, `routes` (extra RouteDefs, e.g. a guarded test route),
    `client_ssl` (an SSLContext for a TLS server), `environ`, and WebSettings fields.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *,
            facade: FakeFacade | None = None,
            routes: Iterable[web.RouteDef] = (),
            client_ssl: Any = True,
            environ: Mapping[str, str] | None = None,
            **settings_fields: Any,
        ) -> Web:
            # The tests read the page's English texts; the Russian page has its own tests.
            settings = WebSettings(**{"folder": web_folder, "port": 0, "language": "en",
                                      **settings_fields})
            app = await create_app(facade or FakeFacade(), settings, environ=environ or {},
                                   wall_clock=clock.wall, monotonic_clock=clock.monotonic)
            app.router.add_routes(routes)
            port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(serve_web(app, settings, on_listening=port.set_result))
            stack.push_async_callback(_stop, task)
            started: list[asyncio.Future[Any]] = [port, task]
            await asyncio.wait(started, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()  # raises what stopped the server
            assert port.done(), f"the web server did not listen within {WAIT_S} s"
            scheme = "https" if settings.tls else "http"
            client = await stack.enter_async_context(aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),  # it keeps cookies for IP hosts
                connector=aiohttp.TCPConnector(ssl=client_ssl),
            ))
            return Web(app, settings, f"{scheme}://127.0.0.1:{port.result()}", client,
                       client_ssl)

        yield start


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
