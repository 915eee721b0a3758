"""The e-mail channel (issue #15): SMTP with STARTTLS or TLS, a plain-text and an HTML body.

aiosmtplib rather than smtplib in an executor: it speaks SMTP, STARTTLS and implicit TLS
on the event loop itself, with a timeout on each step, so a hung server ties up no
thread and the sender's cancellation ends a send at once; it is well kept and typed.

One connection per message: notifications are rare (a digest bounds a flood, see
gateway.notify.digest), and a fresh connection has no idle session for the server to cut.

aiosmtplib's errors are translated here, as drivers do (style.md section 2): a refusal
with a 5xx code is `Undeliverable` (a wrong address stays wrong), except a refused login,
which like every other failure (4xx, connection, timeout, TLS) is `ChannelDown`: the
message waits in the outbox until the server, or its configuration, is fixed.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from gateway.config.notify import EmailSection
from gateway.notify.channel import ChannelDown, RenderedMessage, Undeliverable

_PERMANENT = 500  # SMTP reply codes 5xx: the server will not take this message


class EmailChannel:
    """Sends each message as one e-mail through the configured SMTP server."""

    name = "email"

    def __init__(self, section: EmailSection, password: str | None) -> None:
        self._section = section
        self._password = password
        self._tls = None
        if section.security != "none":
            self._tls = ssl.create_default_context(
                cafile=None if section.ca_file is None else str(section.ca_file))
        self._domain = section.sender.rpartition("@")[2].strip(" >") or "uvelka"

    async def send(self, recipient: str, message: RenderedMessage) -> str:
        """Send `message` to `recipient`; returns its Message-ID."""
        email = self._email(recipient, message)
        section = self._section
        try:
            await aiosmtplib.send(
                email,
                hostname=section.host,
                port=section.smtp_port,
                username=section.username,
                password=self._password if section.username is not None else None,
                use_tls=section.security == "tls",
                start_tls=section.security == "starttls",
                tls_context=self._tls,
                timeout=section.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused.recipients)
            if all(r.code >= _PERMANENT for r in refused.recipients):
                raise Undeliverable(f"recipient refused: {reasons}") from refused
            raise ChannelDown(f"recipient refused for now: {reasons}") from refused
        except aiosmtplib.SMTPAuthenticationError as error:
            raise ChannelDown(f"login refused: {error.code} {error.message}") from error
        except aiosmtplib.SMTPResponseException as error:
            reason = f"{type(error).__name__}: {error.code} {error.message}"
            if error.code >= _PERMANENT:
                raise Undeliverable(reason) from error
            raise ChannelDown(reason) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise ChannelDown(f"{type(error).__name__}: {error}") from error
        return str(email["Message-ID"])

    def _email(self, recipient: str, message: RenderedMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._section.sender
        email["To"] = recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=True)
        email["Message-ID"] = make_msgid(domain=self._domain)
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        # After the bodies: making the alternative moves Content-* headers into the parts.
        email["Content-Language"] = message.language
        return email
