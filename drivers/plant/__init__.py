"""A simulated plant: field-side physics with no protocol, no I/O and no clock.

`pump` is a centrifugal pump set with wear and cavitation, `recording` writes its
readings as training CSV. A protocol's simulator serves it (drivers/modbus/simulator.py
over Modbus TCP); a second protocol's simulator can serve the same plant.
"""
