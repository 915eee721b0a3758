"""What OPC UA clients change, recorded in the gateway's audit log with the session's
user (issue #14), as the web page records its users' changes."""

from __future__ import annotations

from typing import Any, Protocol


class AuditTrail(Protocol):
    """Where the server records changes (gateway.store.audit.AuditLog)."""

    async def record(self, user: str, action: str, detail: str = "") -> Any:
        """Record that `user` did `action` (`detail`: to what)."""
        ...
