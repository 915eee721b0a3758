"""The gateway's information model: NodeSet2 files imported at startup, and its types.

Every `*.xml` in the `nodesets` folder of this package is imported in file-name order,
so a file's dependencies come first (name them so: `10-di.xml` before `20-pump.xml`).
The folder is package data, so an installed gateway carries it; it is a copy of the
repository's `nodesets/`, which tests/gateway/opcua/test_nodesets.py keeps identical.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from asyncua import Server, ua

from gateway.opcua.asyncua_internals import address_space
from gateway.opcua.declarations import ObjectTypeModel, read_object_type

logger = logging.getLogger(__name__)

TYPES_NAMESPACE = "urn:uvelka:types"
DEVICE_STATUS_TYPE = "DeviceStatusType"
ASSET_HEALTH_TYPE = "AssetHealthType"


@dataclass(frozen=True, slots=True)
class GatewayTypes:
    """The ObjectTypes the gateway instantiates."""

    device_status: ObjectTypeModel
    asset_health: ObjectTypeModel


def nodeset_files() -> list[Traversable]:
    """The NodeSet2 files to import, in import order; FileNotFoundError if there are none."""
    folder = resources.files("gateway.opcua").joinpath("nodesets")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".xml")),
        key=lambda entry: entry.name,
    )
    if not files:
        raise FileNotFoundError(f"no NodeSet2 files (*.xml) in {folder}")
    return files


async def import_nodesets(server: Server) -> GatewayTypes:
    """Import every NodeSet file into `server`; return the gateway's types."""
    imported: list[ua.NodeId] = []
    for file in nodeset_files():
        with resources.as_file(file) as path:
            imported += await server.import_xml(str(path))
        logger.debug("imported NodeSet %s", file.name)
    namespace_index = await server.get_namespace_index(TYPES_NAMESPACE)
    aspace = address_space(server)
    types: dict[str, ObjectTypeModel] = {}
    for nodeid in imported:
        if nodeid.NamespaceIndex != namespace_index:
            continue
        browse_name = aspace[nodeid].attributes[ua.AttributeIds.BrowseName].value
        name = browse_name.Value.Value.Name if browse_name and browse_name.Value else None
        if name in (DEVICE_STATUS_TYPE, ASSET_HEALTH_TYPE):
            types[name] = read_object_type(aspace, nodeid)
    missing = {DEVICE_STATUS_TYPE, ASSET_HEALTH_TYPE} - types.keys()
    if missing:
        raise ValueError(f"the NodeSets do not define {', '.join(sorted(missing))} in "
                         f"{TYPES_NAMESPACE}")
    return GatewayTypes(types[DEVICE_STATUS_TYPE], types[ASSET_HEALTH_TYPE])
