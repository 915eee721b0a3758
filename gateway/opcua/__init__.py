"""The OPC UA front end (asyncua): address space and information model, values and quality,
asset outputs, client writes."""

from gateway.opcua.server import OpcuaServer
from gateway.opcua.writes import WriteHandler

__all__ = ["OpcuaServer", "WriteHandler"]
