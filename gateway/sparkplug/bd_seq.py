"""The edge node's bdSeq across restarts: `<data_dir>/sparkplug-bdseq.json`.

Sparkplug 3.0 numbers an edge node's MQTT sessions: each CONNECT's Will (the NDEATH) carries
a bdSeq one more than the previous CONNECT's, 0 after 255, and the NBIRTH of that session
repeats it (tck-id-message-flow-edge-node-birth-publish-will-message-payload-bdSeq,
tck-id-topics-nbirth-bdseq-increment), so a host can tell an old session's death from the
current one's. Counted in memory only, a restarted gateway would begin at 0 again and a host
could take the Will of the killed process (bdSeq 3, say) for the death of a new session
that happens to have reached 3. So the bdSeq of every CONNECT is written here before the
CONNECT goes out, and a new process begins with the next one.

Decisions:
- Written with the gateway's one atomic write (gateway.core.files: synced, renamed), from
  paho's thread as it opens the socket (gateway/mqtt/numbered.py): the event loop never
  waits for a disk. The outcome crosses into the loop for the StorageHealth, the loop's.
- A write that fails (a full disk) does not hold the connection back: the session goes on
  with its number, reported as a degraded store; only a restart before the next good write
  would repeat a number.
- A missing file (the first start) or a damaged one starts at 0, as the specification's
  first session does; a damaged one is logged at WARNING with what is wrong.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.core.files import explain, write_atomically
from gateway.core.storage import StorageHealth

logger = logging.getLogger(__name__)

FILE = "sparkplug-bdseq.json"
STORE = "Sparkplug bdSeq"  # its name in StorageHealth, /metrics and the page
BD_SEQ_MAX = 255


class _Saved(BaseModel):
    """The file's content: the bdSeq of the last CONNECT sent."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bd_seq: Annotated[int, Field(ge=0, le=BD_SEQ_MAX, alias="bdSeq", strict=True)]


class BdSeqFile:
    """The saved bdSeq of one edge node; build it inside the event loop."""

    def __init__(self, path: Path, health: StorageHealth) -> None:
        self.path = path
        self._health = health
        self._loop = asyncio.get_running_loop()

    def first(self) -> int:
        """The bdSeq of this process's first CONNECT: one more than the saved one, or 0
        when there is none or it cannot be read (logged); blocking."""
        try:
            saved = _Saved.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            logger.info("Sparkplug: no saved bdSeq (%s): the first session is bdSeq 0",
                        self.path)
            return 0
        except OSError as error:
            logger.warning("Sparkplug: cannot read the saved bdSeq (%s): %s; starting at 0",
                           self.path, error)
            return 0
        except ValidationError as error:
            logger.warning("Sparkplug: the saved bdSeq %s is damaged (%s); starting at 0",
                           self.path, explain(error))
            return 0
        return (saved.bd_seq + 1) % (BD_SEQ_MAX + 1)

    def keep(self, bd_seq: int) -> None:
        """Save the bdSeq of the CONNECT about to be sent; blocking, called from paho's
        thread. A failure is reported to the StorageHealth, never raised."""
        data = _Saved(bd_seq=bd_seq).model_dump_json(by_alias=True).encode("utf-8")
        try:
            write_atomically(self.path, data)
        except OSError as error:
            self._loop.call_soon_threadsafe(
                self._health.failed, STORE, f"save the bdSeq in {self.path}", error)
            return
        self._loop.call_soon_threadsafe(self._health.ok, STORE)
