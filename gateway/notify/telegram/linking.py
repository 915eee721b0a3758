"""Linking Telegram accounts to gateway users, as the page and the bot ask (issue #15):
codes issued for users who exist, redeemed into saved links, and a link's gateway user as
the users file says now (gateway.notify.telegram.links keeps codes and links)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gateway.notify.telegram.bot_api import TelegramUser
from gateway.notify.telegram.links import Code, Link, LinkCodes, LinkError, LinkStore, NoLink
from web.users import User, UserStore

logger = logging.getLogger(__name__)


class Linking:
    """The links and the codes waiting, checked against the gateway's users."""

    def __init__(self, store: LinkStore, codes: LinkCodes, users: UserStore,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self._codes = codes
        self._users = users
        self._clock = clock

    async def issue(self, user: str) -> Code:
        """A one-time code for `user`; LinkError when there is no such user or the code
        cannot be saved."""
        found = await self._users.current(user)
        if found is None:
            raise LinkError(f"no user {user!r}")
        return await self._codes.issue(found.name, found.created)

    async def redeem(self, text: str, who: TelegramUser) -> tuple[Link, Link | None]:
        """Link `who` to the user whose code `text` is: the link, and the one it replaced.
        LinkError when the code is refused, its user is gone, or the link cannot be saved."""
        code = await self._codes.redeem(text, who.id)
        user = await self._users.current(code.user)
        if user is None or user.created != code.user_created:
            raise LinkError(f"user {code.user!r} no longer exists")
        link = Link(telegram_id=who.id, telegram_name=who.shown, user=user.name,
                    user_created=user.created, linked=self._clock())
        before = await self.store.link(link)
        logger.info("Telegram user %s (%d) linked to gateway user %r", who.shown, who.id,
                    user.name)
        return link, before

    async def user_of(self, telegram_id: int) -> User | None:
        """The gateway user `telegram_id` is linked to, as they are now; None when not
        linked, or when that user was deleted (also if made again under the same name)."""
        link = self.store.of_telegram(telegram_id)
        if link is None:
            return None
        user = await self._users.current(link.user)
        return user if user is not None and user.created == link.user_created else None

    def links(self, user: str | None) -> list[Link]:
        """The links of `user` (None: everyone's)."""
        return [link for link in self.store.all() if user is None or link.user == user]

    async def unlink(self, telegram_id: int, user: str | None) -> Link:
        """End the link of `telegram_id`; only if it is `user`'s (None: anyone's). NoLink
        when there is no such link, LinkError when it cannot be saved."""
        link = self.store.of_telegram(telegram_id)
        if link is None or (user is not None and link.user != user):
            raise NoLink(f"no Telegram user {telegram_id} is linked"
                            + ("" if user is None else f" to {user!r}"))
        return await self.store.unlink(telegram_id)
