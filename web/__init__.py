"""The engineers' web page (aiohttp): see issue #5."""
