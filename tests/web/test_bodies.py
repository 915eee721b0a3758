"""Request bodies are bounded per route before they are read (issue #17): an announced
length over the limit is refused before the body is sent, a chunked body is counted while
it streams, and a few large bodies at once do not grow the process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import psutil

from tests.web.conftest import WAIT_S, Account, StartWeb, Web
from web.model_routes import MAX_UPLOAD_BYTES
from web.requests import ANONYMOUS_MAX_BYTES, MAX_JSON_BYTES
from web.users import Role

_MIB = 1024 * 1024


async def head_only_post(served: Web, path: str, length: int, headers: str = "") -> str:
    """Send only the head of a POST announcing `length` body bytes; the status line and
    body of the answer, which must come although no body byte was sent."""
    address = urlsplit(served.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write((f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n{headers}"
                      f"Content-Length: {length}\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        status_line = head.split(b"\r\n", 1)[0].decode()
        content_length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
        body = await asyncio.wait_for(reader.readexactly(content_length), WAIT_S)
        return f"{status_line}\n{body.decode()}"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def zeros(total: int, chunk: int = _MIB) -> AsyncIterator[bytes]:
    """`total` bytes in chunks, one buffer reused: a chunked upload that costs no memory."""
    block = b"0" * chunk
    for _ in range(total // chunk):
        yield block


async def test_an_anonymous_post_announcing_a_large_body_is_refused_before_it_is_sent(
    start_web: StartWeb,
) -> None:
    served = await start_web()
    answer = await head_only_post(served, "/login", 60_000_000,
                                  "Content-Type: application/x-www-form-urlencoded\r\n")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert f"larger than the {ANONYMOUS_MAX_BYTES} bytes" in answer


async def test_a_json_call_announcing_more_than_the_json_limit_is_refused_before_it_is_sent(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.OPERATOR])
    headers = f"Cookie: uvelka_session={served.session_cookie()}\r\nX-CSRF-Token: {token}\r\n"
    answer = await head_only_post(served, "/api/alarms/high/acknowledge", MAX_JSON_BYTES + 1,
                                  headers + "Content-Type: application/json\r\n")
    status, body = answer.split("\n", 1)
    assert status.startswith("HTTP/1.1 413"), answer
    assert json.loads(body) == {
        "error": f"the body is larger than the {MAX_JSON_BYTES} bytes this request accepts"}


async def test_a_chunked_json_body_over_the_limit_is_refused_while_it_streams(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.OPERATOR])
    async with served.client.post(
        served.url("/api/alarms/high/acknowledge"), data=zeros(MAX_JSON_BYTES + _MIB),
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    ) as response:
        assert response.status == 413
        assert "larger than" in (await response.json())["error"]


async def test_a_chunked_login_form_over_the_limit_is_refused(start_web: StartWeb) -> None:
    served = await start_web()
    token = await served.login_page_token()

    async def form() -> AsyncIterator[bytes]:
        yield f"csrf_token={token}&name=viewer&password=".encode()
        async for block in zeros(_MIB, 4096):
            yield block

    async with served.client.post(
        served.url("/login"), data=form(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 413


async def test_a_model_upload_has_its_own_larger_limit(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.ENGINEER])
    form = aiohttp.FormData()
    form.add_field("model", io.BytesIO(b"onnx" + b"m" * (MAX_JSON_BYTES + _MIB)), filename="m.onnx",
                   content_type="application/octet-stream")
    path = "/api/models/press-1/anomaly"
    async with served.client.post(served.url(path), data=form,
                                  headers={"X-CSRF-Token": token}) as response:
        assert response.status == 200, await response.text()
    headers = (f"Cookie: uvelka_session={served.session_cookie()}\r\nX-CSRF-Token: {token}\r\n"
               "Content-Type: multipart/form-data; boundary=b\r\n")
    answer = await head_only_post(served, path, MAX_UPLOAD_BYTES + 1, headers)
    assert answer.startswith("HTTP/1.1 413"), answer


async def test_large_bodies_at_once_do_not_grow_the_process(start_web: StartWeb) -> None:
    # Issue #17: 16 parallel 60 MB anonymous POSTs to /login took the process to 1.6 GB.
    served = await start_web()
    token = await served.login_page_token()
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.005)

    async def post() -> int:
        async with served.client.post(
            served.url("/login"), data=zeros(60 * _MIB),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-CSRF-Token": token},
        ) as response:
            return response.status

    sampler = asyncio.create_task(sample())
    try:
        statuses = await asyncio.gather(*(post() for _ in range(4)))
    finally:
        done.set()
        await sampler
    assert peak - before < 64 * _MIB, f"RSS grew by {(peak - before) / _MIB:.0f} MiB"
    assert statuses == [413] * 4
