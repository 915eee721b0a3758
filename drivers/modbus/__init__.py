"""Modbus TCP, RTU over serial and RTU over TCP, with pymodbus; see README.md here."""

from drivers.modbus.driver import ModbusDriver

DRIVER = ModbusDriver()

__all__ = ["DRIVER", "ModbusDriver"]
