"""The notification channels a configuration asks for, each with its outbox file, and the
notifier over them (issue #15): what gateway/app.py builds and runs.

Each channel's outbox is `<data_dir>/notify/<channel>.sqlite`, the events held for digests
wait in `<data_dir>/notify/held.sqlite` (gateway.notify.held). Telegram's channel is built
by gateway.notify.telegram (it also runs the bot) and handed in as one more channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.config.model import GatewayConfig
from gateway.config.notify import AudienceRules
from gateway.config.sources import Source
from gateway.core.clock import Clock
from gateway.core.score import Score
from gateway.core.storage import StorageHealth
from gateway.notify.audience import Audience
from gateway.notify.channel import Channel
from gateway.notify.email import EmailChannel
from gateway.notify.held import HeldEvents
from gateway.notify.notifier import Feed, FinishedJob, Notifier, Outlet
from gateway.notify.sender import ChannelSender, SentHook
from gateway.store.outbox import Outbox

logger = logging.getLogger(__name__)

# Notifications are few; this bounds a file whose channel stays down for months.
MAX_QUEUED = 100_000


@dataclass(frozen=True, slots=True)
class ChannelAudiences:
    """A channel and its recipients with their rules (e-mail addresses, chat ids)."""

    channel: Channel
    recipients: Sequence[tuple[str, AudienceRules]]
    on_sent: SentHook | None = None


@dataclass(frozen=True, slots=True)
class Notifications:
    """The notifier and the senders of its channels, for as long as they are open."""

    notifier: Notifier
    senders: Sequence[ChannelSender]

    def tasks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """What runs in the gateway's TaskGroup: the notifier, and a sender per channel."""
        tasks: dict[str, Callable[[], Awaitable[None]]] = {"notify": self.notifier.run}
        for sender in self.senders:
            tasks[f"notify-{sender.channel.name}"] = sender.run
        return tasks


async def email_channel(config: GatewayConfig) -> ChannelAudiences | None:
    """The e-mail channel of `[email]`, None without it; OSError if the password file
    cannot be read."""
    email = config.email
    if email is None:
        return None
    password = await asyncio.to_thread(email.password)
    # In a thread: the TLS context reads the CA file.
    channel = await asyncio.to_thread(EmailChannel, email, password)
    recipients = [(recipient.address, recipient) for recipient in email.recipients]
    return ChannelAudiences(channel, recipients)


def audiences_of(config: GatewayConfig, entry: ChannelAudiences) -> list[Audience]:
    """The channel's recipients, each in its own language, else the configuration's
    notification language."""
    return [Audience(entry.channel.name, recipient, rules,
                     rules.language or config.notify_language)
            for recipient, rules in entry.recipients]


@asynccontextmanager
async def open_notifications(
    config: GatewayConfig,
    channels: Sequence[ChannelAudiences],
    sources: Mapping[str, Source],
    scores: Callable[[str], Mapping[str, Score]],
    units: Mapping[str, str],
    *,
    clock: Clock,
    storage: StorageHealth,
    feed: Feed | None = None,
    jobs: Callable[[], Sequence[FinishedJob]] | None = None,
) -> AsyncIterator[Notifications]:
    """Open each channel's outbox and build the notifier over them; closed on exit."""
    folder = Path(config.gateway.data_dir) / "notify"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        outlets = []
        for entry in channels:
            name = entry.channel.name
            outbox = await stack.enter_async_context(Outbox.open(
                folder / f"{name}.sqlite", max_messages=MAX_QUEUED, max_age_s=86400.0,
                health=storage))
            sender = ChannelSender(entry.channel, outbox, entry.on_sent)
            audiences = audiences_of(config, entry)
            outlets.append(Outlet(sender, audiences))
            logger.info("notifications by %s to %d recipients, %d messages queued", name,
                        len(audiences), sender.waiting())
        held = None
        if outlets:
            held = await stack.enter_async_context(HeldEvents.open(folder / "held.sqlite",
                                                                   storage))
        notifier = Notifier(config.notify, config.gateway.name, outlets, sources, scores,
                            units, feed, jobs, clock, held=held)
        await notifier.restore()
        yield Notifications(notifier, [outlet.sender for outlet in outlets])
