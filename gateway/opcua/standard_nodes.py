"""asyncua's standard address space (namespace 0), kept compressed and read node by node.

Every OPC UA server carries the ~6,200 nodes of Part 5. asyncua builds them at each start
from its generated code: ~1.6-3 s of the gateway's start and ~48 MiB for the life of the
process (issue #10, bench/README.md "Footprint"), though a client reads a few hundred of
them at most. Here each node is kept as its compressed pickle (~6 MiB for all) and turned
back into asyncua's NodeData the first time anything asks for it; from then on it lives
in the address space like any other node, so what a client browses, reads or monitors
answers as before, and changes made to a node (asyncua's own fixes at init, references
the NodeSets add) stay.

The compressed nodes are cached in `<data_dir>/opcua-standard-nodes.cache`, so only the
first start of a data_dir builds them (~1 s more than asyncua alone). The cache is never
trusted blindly: its header names the format, the asyncua version and a fingerprint of
asyncua's generated code (file names and sizes) and the Python version, and a SHA-256
covers its body; anything else, a short or garbled file included, is rebuilt and
replaced. The file is read whole at start and closed (no file held open under data_dir),
written atomically (gateway.core.files), and only a pickle of asyncua's own classes is
accepted from it. A data_dir that is read-only, or has too little room (issue #17), keeps
no cache: the start builds the nodes as asyncua does and goes on, with a WARNING.

Unlike asyncua's own shelf (`Server.init(shelf_file)`), this needs no dbm module beyond
the standard library's (asyncua 2.1 recognises an existing shelf only as a dbm.gnu or
dbm.ndbm file, which a Python built without gdbm/ndbm lacks, and would rebuild it at
every start).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import sys
import time
import zlib
from collections.abc import Iterator, MutableMapping
from importlib import util
from pathlib import Path
from typing import Any

import asyncua
from asyncua import Server, ua

from gateway.core.files import in_thread, write_atomically
from gateway.opcua.asyncua_internals import (
    NodeData,
    fill_standard_nodes,
    on_standard_nodes,
    replace_nodes,
)

logger = logging.getLogger(__name__)

CACHE_FILE = "opcua-standard-nodes.cache"
_MAGIC = b"uvelka opcua standard nodes\n"
_FORMAT = 1
# A cache is not worth filling the disk for: write it only if this much stays free.
_MIN_FREE_BYTES = 64 * 1024 * 1024
# What a cached node's pickle may name: asyncua's node and ua classes, and the datetime
# and tzinfo classes of its timestamps.
_ALLOWED_MODULES = {"asyncua.server.address_space", "datetime"}
_ALLOWED_PACKAGES = ("asyncua.ua.", "dateutil.tz.")


class StandardNodes(MutableMapping[ua.NodeId, NodeData]):
    """The address space's nodes: those built or read so far, and the standard nodes not
    asked for yet, each kept as its compressed pickle until it is."""

    __slots__ = ("_nodes", "_stored")

    def __init__(self, stored: dict[ua.NodeId, bytes]) -> None:
        self._nodes: dict[ua.NodeId, NodeData] = {}
        self._stored = stored

    def __getitem__(self, nodeid: ua.NodeId) -> NodeData:
        try:
            return self._nodes[nodeid]
        except KeyError:
            stored = self._stored.pop(nodeid)  # KeyError: no such node
        node = self._nodes[nodeid] = _unpickle(zlib.decompress(stored))
        return node

    def get(self, nodeid: ua.NodeId, default: Any = None) -> Any:
        # Without the exception of Mapping.get on every read of an existing node.
        node = self._nodes.get(nodeid)
        if node is not None:
            return node
        return self[nodeid] if nodeid in self._stored else default

    def __contains__(self, nodeid: object) -> bool:
        return nodeid in self._nodes or nodeid in self._stored

    def __setitem__(self, nodeid: ua.NodeId, node: NodeData) -> None:
        self._stored.pop(nodeid, None)
        self._nodes[nodeid] = node

    def __delitem__(self, nodeid: ua.NodeId) -> None:
        if self._stored.pop(nodeid, None) is None:
            del self._nodes[nodeid]

    def __iter__(self) -> Iterator[ua.NodeId]:
        # A copy: asyncua reads nodes while it iterates the keys (delete_nodes), and a
        # read moves a node from one dict to the other.
        return iter([*self._nodes, *self._stored])

    def __len__(self) -> int:
        return len(self._nodes) + len(self._stored)

    @property
    def stored(self) -> int:
        """How many standard nodes nothing has asked for yet."""
        return len(self._stored)


def use_standard_nodes(server: Server, data_dir: Path) -> None:
    """Make `server.init()` give the server its standard nodes from the cache under
    `data_dir` (built, and cached if it can be, when missing, stale or corrupt)."""
    on_standard_nodes(server, lambda: _load(server, data_dir / CACHE_FILE))


async def _load(server: Server, path: Path) -> None:
    started = time.monotonic()
    stored = await in_thread(read_cache, path)
    if stored is not None:
        replace_nodes(server, StandardNodes(stored))
        logger.debug(
            "standard address space read from %s in %.2f s", path, time.monotonic() - started
        )
        return
    nodes = await asyncio.to_thread(fill_standard_nodes, server)
    why_not = _why_not_writable(path.parent)
    if why_not is not None:
        # Kept as asyncua built it: compressing it for this run alone would only slow it.
        logger.warning(
            "asyncua's standard address space is not cached in %s (%s): each "
            "start builds it again (~2 s, ~48 MiB)",
            path.parent,
            why_not,
        )
        return
    stored = await asyncio.to_thread(compress, nodes)
    replace_nodes(server, StandardNodes(stored))
    try:
        await in_thread(write_atomically, path, encode(stored))
    except OSError as error:
        logger.warning(
            "asyncua's standard address space is not cached in %s (%s): the "
            "next start builds it again",
            path,
            error,
        )
        return
    logger.info(
        "asyncua's standard address space built and cached in %s (%.2f s)",
        path,
        time.monotonic() - started,
    )


def _why_not_writable(folder: Path) -> str | None:
    """Why a cache should not be written into `folder` (or the nearest existing parent)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return "not writable"
    try:
        free = shutil.disk_usage(existing).free
    except OSError as error:
        return str(error)
    if free < _MIN_FREE_BYTES:
        return f"{free // (1024 * 1024)} MiB free"
    return None


def compress(nodes: dict[ua.NodeId, NodeData]) -> dict[ua.NodeId, bytes]:
    """Each node as its compressed pickle; blocking (about a second for all)."""
    return {
        nodeid: zlib.compress(pickle.dumps(node, pickle.HIGHEST_PROTOCOL))
        for nodeid, node in nodes.items()
    }


def encode(stored: dict[ua.NodeId, bytes]) -> bytes:
    """The cache file's bytes: the magic line, a JSON header line, the pickled body."""
    body = pickle.dumps(stored, pickle.HIGHEST_PROTOCOL)
    header = {**_identity(), "nodes": len(stored), "sha256": hashlib.sha256(body).hexdigest()}
    return _MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + body


def read_cache(path: Path) -> dict[ua.NodeId, bytes] | None:
    """The compressed nodes cached at `path`; None (logged) if there is no usable cache."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        logger.warning("cannot read %s (%s): building the standard address space", path, error)
        return None
    try:
        return decode(data)
    except StaleCache as stale:
        logger.info("%s was made for %s: building the standard address space again", path, stale)
    except (ValueError, pickle.UnpicklingError, EOFError) as error:
        logger.warning("%s is corrupt (%s): building the standard address space again", path, error)
    return None


class StaleCache(Exception):
    """A cache written by another asyncua, Python or format: it says which."""


def decode(data: bytes) -> dict[ua.NodeId, bytes]:
    """The compressed nodes of a cache file's bytes; StaleCache, or ValueError (or a pickle
    error) if they are not a whole cache of this asyncua and Python."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a cache of standard nodes")
    end = data.find(b"\n", len(_MAGIC))
    if end < 0:
        raise ValueError("no header")
    header = json.loads(data[len(_MAGIC) : end])
    if not isinstance(header, dict):
        raise ValueError("no header")
    identity = _identity()
    made_for = {key: header.get(key) for key in identity}
    if made_for != identity:
        raise StaleCache(", ".join(f"{key} {value}" for key, value in made_for.items()))
    body = data[end + 1 :]
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        raise ValueError("its content does not match its checksum")
    stored = _unpickle(body)
    if not isinstance(stored, dict) or len(stored) != header.get("nodes"):
        raise ValueError("not the nodes its header counts")
    return stored


def _identity() -> dict[str, object]:
    """What a cache must have been made with to be used."""
    return {
        "format": _FORMAT,
        "asyncua": asyncua.__version__,
        "generated": _generated_code_fingerprint(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _generated_code_fingerprint() -> str:
    """The names and sizes of asyncua's generated standard address space modules, hashed:
    a reinstalled or patched asyncua of the same version still invalidates the cache."""
    spec = util.find_spec("asyncua.server.standard_address_space")
    folders = spec.submodule_search_locations if spec is not None else None
    if not folders:
        return "missing"
    digest = hashlib.sha256()
    for entry in sorted(Path(folders[0]).glob("*.py")):
        digest.update(f"{entry.name}:{entry.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


class _AsyncuaUnpickler(pickle.Unpickler):
    """Unpickles asyncua's node classes and nothing else: a cache file is data, and a
    pickle naming any other callable is refused instead of run."""

    def find_class(self, module: str, name: str) -> Any:
        if module in _ALLOWED_MODULES or module.startswith(_ALLOWED_PACKAGES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not an asyncua class")


def _unpickle(data: bytes) -> Any:
    return _AsyncuaUnpickler(io.BytesIO(data)).load()
