"""gateway.opcua.asyncua_internals: every asyncua internal the gateway relies on exists in
the installed asyncua, a moved one stops the server's start with a message naming it,
and no other module of the gateway reaches asyncua's internals past this one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import asyncua
import pytest
from asyncua import Server
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemService

from gateway.config.model import GatewayConfig
from gateway.opcua import OpcuaServer, asyncua_internals
from gateway.opcua.asyncua_internals import (
    INTERNALS,
    AddressSpace,
    AsyncuaInternalsMoved,
    AttributeValue,
    NodeData,
    check,
    moved,
    samples,
)
from tests.fixtures.opcua import RecordingWriteHandler

GATEWAY = Path(__file__).resolve().parents[3] / "gateway"
INTERNALS_MODULE = Path(asyncua_internals.__file__).resolve()
# The address-space data model the node builders write (nodeid, attributes, value, ...):
# used by name outside the module, checked here all the same.
DATA_MODEL = (AddressSpace, NodeData, AttributeValue)
# Server-side entry points whose names have no underscore to tell them apart.
ENTRY_POINTS = {"iserver", "isession", "bserver", "aspace", "isub", "mvalue"}


@pytest.fixture
async def asyncua_server() -> Server:
    server = Server()
    await server.init()
    return server


def message(internal: str) -> str:
    return (
        f"asyncua {asyncua.__version__} moved {internal}: "
        "gateway/opcua/asyncua_internals.py must follow (written for asyncua 2.1)"
    )


async def test_the_installed_asyncua_has_every_internal(asyncua_server: Server) -> None:
    # One line per missing name, each saying which: the check's own message.
    assert moved(samples(asyncua_server)) == []
    check(asyncua_server)


async def test_an_instance_attribute_that_moved_is_named(asyncua_server: Server) -> None:
    # What a release renaming MonitoredItemService._monitored_items looks like: the
    # instances the check builds lack it.
    found = samples(asyncua_server)
    service = found[MonitoredItemService]
    del service._monitored_items  # type: ignore[attr-defined]
    assert moved(found) == [message("MonitoredItemService._monitored_items")]


async def test_a_moved_internal_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    opcua_config: GatewayConfig,
    write_handler: RecordingWriteHandler,
) -> None:
    # A release without InternalSubscription._pop_triggered_datachanges: without the
    # check, the server would start and fail at the first Publish of a subscription.
    monkeypatch.delattr(InternalSubscription, "_pop_triggered_datachanges")
    with pytest.raises(AsyncuaInternalsMoved) as raised:
        async with OpcuaServer(opcua_config, write_handler):
            pass
    assert str(raised.value) == message("InternalSubscription._pop_triggered_datachanges")


def _private_names() -> set[str]:
    """The INTERNALS names that only asyncua's server internals carry."""
    return {
        internal.name
        for internal in INTERNALS
        if internal.owner not in DATA_MODEL
        and ("_" in internal.name or internal.name in ENTRY_POINTS)
    }


def _reaches(path: Path, private: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        # `self.<name>` is the module's own attribute (the stores' `_connection`), not
        # asyncua's: no gateway class subclasses asyncua's server classes (imports below).
        if isinstance(node, ast.Attribute) and node.attr in private and not _of_self(node):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and re.match(
            r"asyncua\.(server|common\.connection)\b", node.module or ""
        ):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("asyncua.server")
            ]
    return found


def _of_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "self"


def test_no_other_module_reaches_asyncua_internals() -> None:
    private = _private_names()
    assert {"_monitored_items", "iserver", "create_session", "attribute_service"} <= private
    offenders = {
        str(path.relative_to(GATEWAY.parent)): found
        for path in sorted(GATEWAY.rglob("*.py"))
        if path.resolve() != INTERNALS_MODULE and (found := _reaches(path, private))
    }
    assert not offenders, (
        f"asyncua internals reached outside {INTERNALS_MODULE.name}: {offenders}; "
        "add what is needed to gateway/opcua/asyncua_internals.py (and INTERNALS) instead"
    )
