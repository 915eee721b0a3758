"""Server-sent event streams of the page (live values, the notification bell): how one is
opened, how an event is written, and their end when the app shuts down.

A stream ends when its client goes away or the app shuts down (aiohttp would otherwise
wait its whole shutdown timeout for streams that never end on their own).
"""

from __future__ import annotations

import asyncio
import json
import weakref

from aiohttp import web

_STREAMS = web.AppKey("uvelka_event_streams", weakref.WeakSet[asyncio.Event])


def install_streams(app: web.Application) -> None:
    """End every open stream at shutdown; once per app, whoever asks first."""
    if _STREAMS not in app:
        app[_STREAMS] = weakref.WeakSet()
        app.on_shutdown.append(_end_streams)


async def open_stream(request: web.Request) -> tuple[web.StreamResponse, asyncio.Event]:
    """The prepared event-stream response, and the event set when the app shuts down."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
    })
    await response.prepare(request)
    ended = asyncio.Event()
    request.app[_STREAMS].add(ended)
    return response, ended


def event(name: str, data: object) -> str:
    """One event named `name` carrying `data` as JSON."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _end_streams(app: web.Application) -> None:
    # Named first: inside list(...) mypy looks the key up as AppKey[Iterable[Event]].
    streams = app[_STREAMS]
    for ended in list(streams):
        ended.set()
