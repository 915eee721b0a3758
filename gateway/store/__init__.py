"""Durable storage on aiosqlite: the outbound message outbox (issue #4)."""

from gateway.store.outbox import DropReason, DuplicateMessage, Kind, Message, Outbox, Stored

__all__ = ["DropReason", "DuplicateMessage", "Kind", "Message", "Outbox", "Stored"]
