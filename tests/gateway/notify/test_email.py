"""The e-mail channel against a real SMTP server (aiosmtpd) through the durable outbox."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from gateway.config.notify import EmailSection
from gateway.notify.channel import RenderedMessage
from gateway.notify.email import EmailChannel
from gateway.notify.sender import ChannelSender
from gateway.runtime.backoff import Backoff
from gateway.store.outbox import Outbox
from tests.fixtures.modbus import wait_until
from tests.fixtures.mqtt import TlsFiles
from tests.fixtures.smtp import SmtpServer


def _section(port: int) -> EmailSection:
    return EmailSection(host="127.0.0.1", port=port, security="none",
                        sender="Uvelka <uvelka@plant.example>", timeout=5.0)


def _message(n: int) -> RenderedMessage:
    return RenderedMessage(subject=f"Насос {n}: авария", text=f"text {n}",
                           html=f"<p>html {n}</p>", language="ru", event_id=f"event-{n}")


@contextlib.asynccontextmanager
async def _sending(path: Path, port: int, section: EmailSection | None = None,
                   password: str | None = None) -> AsyncIterator[ChannelSender]:
    async with Outbox.open(path, max_messages=1000, max_age_s=86400.0) as outbox:
        channel = EmailChannel(section or _section(port), password)
        sender = ChannelSender(channel, outbox, backoff=Backoff(initial_s=0.05, max_s=0.2))
        task = asyncio.create_task(sender.run())
        try:
            yield sender
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_email_arrives_with_both_bodies(smtp_server: SmtpServer,
                                                  tmp_path: Path) -> None:
    async with _sending(tmp_path / "email.sqlite", smtp_server.port) as sender:
        await sender.queue("crew@plant.example", _message(1))
        (received,) = await smtp_server.wait_for(1)
        await wait_until(lambda: sender.counts.sent == 1, 10.0, "the send recorded")
    assert received["To"] == "crew@plant.example"
    assert received["Subject"] == "Насос 1: авария"
    assert received["Content-Language"] == "ru"
    plain = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert plain is not None
    assert plain.get_content().strip() == "text 1"
    assert html is not None
    assert html.get_content().strip() == "<p>html 1</p>"
    assert sender.counts.sent == 1
    assert sender.waiting() == 0


async def test_an_outage_then_recovery_delivers_all_in_order_once(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    await smtp_server.stop()
    async with _sending(tmp_path / "email.sqlite", smtp_server.port) as sender:
        for n in range(5):
            await sender.queue("crew@plant.example", _message(n))
        await wait_until(lambda: sender.counts.outages == 1, 10.0, "the outage seen")
        assert sender.waiting() == 5
        await smtp_server.start()
        received = await smtp_server.wait_for(5)
        await wait_until(lambda: sender.counts.sent == 5, 10.0, "the sends recorded")
    assert [m["Subject"] for m in received] == [f"Насос {n}: авария" for n in range(5)]
    assert sender.counts.sent == 5
    assert sender.counts.outages == 1


async def test_a_message_queued_twice_is_sent_once(smtp_server: SmtpServer,
                                                   tmp_path: Path) -> None:
    async with _sending(tmp_path / "email.sqlite", smtp_server.port) as sender:
        assert await sender.queue("crew@plant.example", _message(1))
        assert not await sender.queue("crew@plant.example", _message(1))
        await sender.queue("crew@plant.example", _message(2))
        received = await smtp_server.wait_for(2)
        await wait_until(lambda: sender.counts.sent == 2, 10.0, "the sends recorded")
    assert [m["Subject"] for m in received] == ["Насос 1: авария", "Насос 2: авария"]


async def test_a_refused_recipient_is_dropped_and_the_rest_goes_on(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    smtp_server.inbox.unknown.add("nobody@plant.example")
    async with _sending(tmp_path / "email.sqlite", smtp_server.port) as sender:
        await sender.queue("nobody@plant.example", _message(1))
        await sender.queue("crew@plant.example", _message(2))
        (received,) = await smtp_server.wait_for(1)
        await wait_until(lambda: sender.counts.sent + sender.counts.undeliverable == 2, 10.0,
                         "both handled")
    assert received["Subject"] == "Насос 2: авария"
    assert sender.counts.undeliverable == 1
    assert sender.counts.sent == 1


@contextlib.asynccontextmanager
async def _serving(server: SmtpServer) -> AsyncIterator[SmtpServer]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _server_tls(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


async def test_starttls_with_a_login_whose_password_is_in_a_file(
    make_tls_files: Callable[[str], TlsFiles], tmp_path: Path
) -> None:
    files = make_tls_files("smtp")
    server = SmtpServer(_server_tls(files), starttls=True, logins={"uvelka": "s3cret"})
    async with _serving(server):
        password_file = tmp_path / "smtp.password"
        password_file.write_text("s3cret\n", encoding="utf-8")
        section = EmailSection(
            host="127.0.0.1", port=server.port, security="starttls", username="uvelka",
            password_file=password_file, ca_file=files.ca, sender="uvelka@plant.example")
        async with _sending(tmp_path / "email.sqlite", server.port, section,
                            section.password()) as sender:
            await sender.queue("crew@plant.example", _message(1))
            (received,) = await server.wait_for(1)
            await wait_until(lambda: sender.counts.sent == 1, 10.0, "the send recorded")
    assert received["Subject"] == "Насос 1: авария"
    assert server.logged_in == ["uvelka"]


async def test_implicit_tls(make_tls_files: Callable[[str], TlsFiles], tmp_path: Path) -> None:
    files = make_tls_files("smtps")
    server = SmtpServer(_server_tls(files))
    async with _serving(server):
        section = EmailSection(host="127.0.0.1", port=server.port, security="tls",
                               ca_file=files.ca, sender="uvelka@plant.example")
        async with _sending(tmp_path / "email.sqlite", server.port, section) as sender:
            await sender.queue("crew@plant.example", _message(1))
            (received,) = await server.wait_for(1)
            await wait_until(lambda: sender.counts.sent == 1, 10.0, "the send recorded")
    assert received["Subject"] == "Насос 1: авария"


async def test_a_server_certificate_not_trusted_keeps_the_message_queued(
    make_tls_files: Callable[[str], TlsFiles], tmp_path: Path
) -> None:
    server = SmtpServer(_server_tls(make_tls_files("smtp")), starttls=True)
    async with _serving(server):
        other_ca = make_tls_files("other").ca
        section = EmailSection(host="127.0.0.1", port=server.port, security="starttls",
                               ca_file=other_ca, sender="uvelka@plant.example")
        async with _sending(tmp_path / "email.sqlite", server.port, section) as sender:
            await sender.queue("crew@plant.example", _message(1))
            await wait_until(lambda: sender.counts.outages == 1, 10.0, "the refusal")
            assert "CERTIFICATE_VERIFY_FAILED" in sender.counts.last_error
            assert sender.waiting() == 1
    assert server.inbox.messages == []
