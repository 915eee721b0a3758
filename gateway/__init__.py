"""The Uvelka gateway: the composition package that wires drivers, analytics and web."""
