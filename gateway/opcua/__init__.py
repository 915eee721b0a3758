"""The OPC UA front end (asyncua): address space, values and quality, client writes."""

from gateway.opcua.server import OpcuaServer
from gateway.opcua.writes import WriteHandler

__all__ = ["OpcuaServer", "WriteHandler"]
