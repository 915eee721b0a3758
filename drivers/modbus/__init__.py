"""Modbus TCP, RTU over serial and RTU over TCP, with pymodbus; see README.md here."""

from drivers.modbus.codec import OutOfRange
from drivers.modbus.driver import ModbusDriver

FACTORY = ModbusDriver()

__all__ = ["FACTORY", "ModbusDriver", "OutOfRange"]
