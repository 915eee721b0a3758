"""The Telegram channel (issue #15): the Bot API over aiohttp, Telegram's pace, the bot's
commands and buttons, and the links of Telegram accounts to gateway users."""
