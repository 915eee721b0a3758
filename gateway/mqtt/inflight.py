"""Bookkeeping of the outbox messages handed to paho: pure state, no I/O, loop thread only.

A message goes from the outbox to paho (`sent`), is confirmed by the broker (`confirmed`,
on PUBACK), and is then deleted from the outbox in batches (`take_deletions`, `deleted`).
When a connection ends, whatever paho still held is `lost`: the cursor goes back so the
sender reads those messages from the outbox again, in order, skipping the ones already
confirmed whose deletion is still on its way to disk.
"""

from __future__ import annotations


class InFlight:
    """Messages handed to paho on the current connection, by paho message id (mid)."""

    def __init__(self) -> None:
        self.cursor = 0  # outbox seq of the last message handed over or skipped
        self._seqs: dict[int, int] = {}  # mid -> outbox seq, unconfirmed
        self._confirmed: set[int] = set()  # confirmed, not yet deleted from the outbox
        self._to_delete: list[int] = []  # confirmed, deletion not yet started

    def __len__(self) -> int:
        """Messages waiting for the broker's confirmation."""
        return len(self._seqs)

    def wanted(self, seq: int) -> bool:
        """Move the cursor to `seq`; whether it still has to be sent (not yet confirmed)."""
        self.cursor = seq
        return seq not in self._confirmed

    def sent(self, mid: int, seq: int) -> None:
        self._seqs[mid] = seq

    def confirmed(self, mid: int) -> bool:
        """The broker confirmed `mid`; False if it is not one of ours (the status message)."""
        seq = self._seqs.pop(mid, None)
        if seq is None:
            return False
        self._confirmed.add(seq)
        self._to_delete.append(seq)
        return True

    def take_deletions(self) -> list[int]:
        """Confirmed seqs to delete from the outbox now."""
        seqs, self._to_delete = self._to_delete, []
        return seqs

    def deleted(self, seqs: list[int]) -> None:
        """The outbox deleted `seqs`: no later read can return them."""
        self._confirmed.difference_update(seqs)

    def lost(self) -> int:
        """The connection ended: forget what paho held and rewind to resend it; returns how
        many messages that is."""
        count = len(self._seqs)
        if count:
            self.cursor = min(self.cursor, min(self._seqs.values()) - 1)
            self._seqs.clear()
        return count
