"""Durable storage on aiosqlite: the outbound message outbox (issue #4), the tag history
(issue #5)."""

from gateway.store.history import History, HistoryStats, Point
from gateway.store.history_query import Bucket
from gateway.store.history_schema import NewerSchema
from gateway.store.outbox import (
    DropReason,
    DuplicateMessage,
    Kind,
    Message,
    MessageRefused,
    Outbox,
    Stored,
)

__all__ = [
    "Bucket",
    "DropReason",
    "DuplicateMessage",
    "History",
    "HistoryStats",
    "Kind",
    "Message",
    "MessageRefused",
    "NewerSchema",
    "Outbox",
    "Point",
    "Stored",
]
